"""Every model family on the RAVDESS 4-class release with speakers held out, through the platform.

From the repository root (the command of RESULTS.md):

    .venv/bin/python -m benchmarks.families

Options: --families (comma-separated, default classical,mfcc_lstm,logmel_cnn); --backbone DIR
adds the transformer family. RAVDESS comes from $TUNISER_DATA_DIR (default ../shared/data).

1. Scratch database; all RAVDESS speech imported with `import_corpus` (calm -> neutral).
2. Release `ravdess4`: happy, sad, angry, neutral; undersampled; split 70/15/15 grouped by
   speaker (no actor in two splits); seed 0.
3. Each family trained through `training.services` on the CPU (the `transformer` family only
   with --backbone: a local pretrained wav2vec 2.0 / HuBERT / WavLM directory; none can be
   downloaded on the lab's offline machines), evaluated on the held-out actors.

Prints the metrics table and, last, the one line `best_test_ua=<UA>`: the highest test UA
(unweighted average recall, 0..1) among the families that trained, three decimals
(`best_test_ua=0.656` in RESULTS.md; `best_test_ua=nan` when none trained).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("TUNISER_DATA_DIR", REPO.parent / "shared" / "data"))
# Settings for a 2-core CPU; a GPU run would use the families' defaults.
CPU_HPARAMS = {
    "classical": {},
    "mfcc_lstm": {"epochs": 25, "patience": 6},
    "logmel_cnn": {"epochs": 25, "patience": 6},
    "transformer": {"epochs": 5, "batch_size": 8},
}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--families", default="classical,mfcc_lstm,logmel_cnn")
    parser.add_argument("--backbone", default="")
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="tuniser-families-"))
    os.environ.update(
        DJANGO_SETTINGS_MODULE="tuniser.settings",
        DATABASE_URL=f"sqlite:///{scratch / 'db.sqlite3'}",
        MEDIA_ROOT=str(scratch / "media"),
        TUNISER_VAR_DIR=str(scratch),
        LOG_LEVEL="WARNING",
    )
    import django

    django.setup()
    from django.core.management import call_command

    from annotation.guideline import ensure_guideline
    from core.access import project_get_default
    from releases.build import ReleaseParams, release_build
    from releases.importers import label_mappings_ensure
    from training import services

    call_command("migrate", verbosity=0)
    ensure_guideline()
    label_mappings_ensure()
    t = time.perf_counter()
    call_command("import_corpus", str(DATA / "ravdess"), "--format", "ravdess", "--no-progress")
    import_s = time.perf_counter() - t
    release = release_build(
        project=project_get_default(), params=ReleaseParams(name="ravdess4", group_by="speaker", seed=0)
    )
    splits = release.counts
    families = [f for f in args.families.split(",") if f]
    if args.backbone and "transformer" not in families:
        families.append("transformer")
    rows = []
    for family in families:
        if family == "transformer" and not args.backbone:
            rows.append((family, "not run: needs --backbone (a local pretrained model)", "", "", "", ""))
            continue
        run = services.run_create(
            release=release,
            family=family,
            hparams=CPU_HPARAMS.get(family, {}),
            device="cpu",
            backbone=args.backbone if family == "transformer" else "",
            enqueue=False,
        )
        t = time.perf_counter()
        services.run_execute(run_id=run.pk)
        seconds = time.perf_counter() - t
        run.refresh_from_db()
        if run.status != "succeeded":
            rows.append((family, f"{run.status}: {run.error}", "", "", "", f"{seconds:.0f}"))
            continue
        m = run.test_metrics
        rows.append(
            (
                family,
                f"{m['ua']:.3f}",
                f"{m['wa']:.3f}",
                f"{m['macro_f1']:.3f}",
                str(len(run.history) or "-"),
                f"{seconds:.0f}",
            )
        )
    print(
        f"RAVDESS speech, 4 classes (calm counted as neutral), undersampled, 70/15/15 by actor, seed 0; "
        f"import {import_s:.0f} s"
    )
    print(
        "split sizes: "
        + ", ".join(
            f"{k} {v['items']} ({v['groups']} actors)"
            for k, v in splits.items()
            if isinstance(v, dict) and "items" in v
        )
    )
    header = ("family", "test UA", "test WA", "macro-F1", "epochs", "train s (CPU)")
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, tuple("-" * w for w in widths), *rows]:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)))
    uas = [float(r[1]) for r in rows if r[1].replace(".", "", 1).isdigit()]
    print(f"best_test_ua={max(uas):.3f}" if uas else "best_test_ua=nan")


if __name__ == "__main__":
    main()
