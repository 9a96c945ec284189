"""Cross-corpus evaluation through the platform: a classical model trained on RAVDESS evaluated
on EmoDB, and the reverse, beside each model's own held-out test split.

From the repository root (the command of RESULTS.md):

    .venv/bin/python -m benchmarks.cross_corpus

RAVDESS and EmoDB come from $TUNISER_DATA_DIR (default ../shared/data).

1. Scratch database; all RAVDESS and EmoDB speech imported with `import_corpus` into one
   project (calm -> neutral; EmoDB anger -> angry, happiness -> happy, sadness -> sad).
2. Releases `ravdess4` and `emodb4` (one source each): happy, sad, angry, neutral;
   undersampled; split 70/15/15 grouped by speaker; seed 0.
3. The `classical` family trained on each release (CPU), then evaluated with
   `training.services.evaluation_create` / `evaluation_execute` on its own release's test split
   and on every item of the other release.

Prints the table and, last, the one line `ravdess_to_emodb_ua=<UA>` (unweighted average recall,
0..1, three decimals, of the RAVDESS model on all EmoDB items). EmoDB's copies are cut to 2 s
(see ../shared/data/README.md): fine for the pipeline, a lower bound for the figure.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("TUNISER_DATA_DIR", REPO.parent / "shared" / "data"))


def main() -> None:
    scratch = Path(tempfile.mkdtemp(prefix="tuniser-cross-corpus-"))
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
    from corpus.models import Source
    from releases.build import ReleaseParams, release_build
    from releases.importers import label_mappings_ensure
    from training import services
    from training.models import ModelVersion

    call_command("migrate", verbosity=0)
    ensure_guideline()
    label_mappings_ensure()
    project = project_get_default()
    t = time.perf_counter()
    releases, models = {}, {}
    for fmt, title in (("ravdess", "RAVDESS"), ("emodb", "EmoDB")):
        call_command("import_corpus", str(DATA / fmt), "--format", fmt, "--no-progress")
        source = Source.objects.get(project=project, kind="corpus", title=title)
        releases[fmt] = release_build(
            project=project,
            params=ReleaseParams(name=f"{fmt}4", group_by="speaker", seed=0, sources=[source.pk]),
        )
    import_s = time.perf_counter() - t
    for fmt, release in releases.items():
        run = services.run_create(release=release, family="classical", device="cpu", enqueue=False)
        services.run_execute(run_id=run.pk)
        models[fmt] = ModelVersion.objects.get(run=run)
    rows, figure = [], float("nan")
    for trained, other in (("ravdess", "emodb"), ("emodb", "ravdess")):
        for release, split in ((releases[trained], "test"), (releases[other], "")):
            ev = services.evaluation_create(
                model_version=models[trained], release=release, split=split, enqueue=False
            )
            t = time.perf_counter()
            services.evaluation_execute(evaluation_id=ev.pk)
            seconds = time.perf_counter() - t
            ev.refresh_from_db()
            m = ev.metrics or {}
            excluded = ev.n_excluded_seen + sum(ev.n_excluded_unmatched.values())
            rows.append(
                (
                    f"classical ({releases[trained]})",
                    f"{release}/{split or 'all'}",
                    str(m.get("n", ev.error)),
                    str(excluded),
                    f"{m['ua']:.3f}" if m else "",
                    f"{m['wa']:.3f}" if m else "",
                    f"{m['macro_f1']:.3f}" if m else "",
                    f"{seconds:.1f}",
                )
            )
            if (trained, split) == ("ravdess", "") and m:
                figure = m["ua"]
    print(f"import + release build {import_s:.0f} s; classical family, CPU")
    header = ("model (trained on)", "evaluated on", "n", "excluded", "UA", "WA", "macro-F1", "eval s")
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, tuple("-" * w for w in widths), *rows]:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)))
    print(f"ravdess_to_emodb_ua={figure:.3f}")


if __name__ == "__main__":
    main()
