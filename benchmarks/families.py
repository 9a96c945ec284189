"""Model families cross-validated with speakers held out: RAVDESS 4-class, 6 folds by actor, and
EmoDB 4-class, leave one speaker out (10 folds).

From the repository root (the commands of RESULTS.md, "Model families (issue #14)"):

    .venv/bin/python -m benchmarks.families
    .venv/bin/python -m benchmarks.families --families logmel_cnn --corpora emodb --folds-limit 3

Options: --families (comma-separated, default classical,mfcc_lstm,logmel_cnn,mel_image);
--corpora (ravdess,emodb); --folds-limit N (only the first N folds of each corpus: the table then
says "partial, N of K folds"); --device cpu|cuda (default cpu; the families take their GPU
defaults on cuda); --epochs N (overrides every torch family's epochs); --hparams JSON (overrides
for every family that has those names, for screening). Data from $TUNISER_DATA_DIR (default
../shared/data).

1. Scratch database; RAVDESS speech and EmoDB imported with `import_corpus` (RAVDESS calm ->
   neutral), one source each.
2. Per corpus, the clips of happy, sad, angry, neutral (EmoDB: happiness, sadness, anger,
   neutral; boredom, disgust, fear left out) read as `releases.build.release_candidates` selects
   them and decoded as releases decode them (`releases.augment.release_item_samples`, the reader
   of `training.services.release_datasets`); no undersampling (the loss is class-balanced).
3. Folds: RAVDESS `StratifiedGroupKFold(6, shuffle, seed 0)` by actor; EmoDB `LeaveOneGroupOut`
   by speaker. In fold k the next fold's test speakers are the validation split (early stopping,
   best epoch), the rest train. `run_fold` trains one fold with `training.ml.engine.train`: the
   one function to swap for the platform's cross-validated runs once they exist.
4. Per family and corpus: mean +- std over folds of the test UA, pooled UA (over all folds'
   predictions, from the summed confusion matrices), WA, macro-F1, wall and CPU seconds per fold.

Prints the table and, last, `best_mean_ua=<value>`: the highest mean UA over folds of any family
on RAVDESS (EmoDB when RAVDESS is not run), three decimals; nan when nothing trained.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("TUNISER_DATA_DIR", REPO.parent / "shared" / "data"))
LABELS = ["happy", "sad", "angry", "neutral"]
CORPORA = {"ravdess": "ravdess", "emodb": "emodb"}  # name -> import format (and folder)
DEFAULT_FAMILIES = "classical,mfcc_lstm,logmel_cnn,mel_image"


@dataclass
class Corpus:
    """One corpus's 4-class clips: float32 16 kHz samples, label indices into LABELS, speakers."""

    name: str
    samples: list[np.ndarray]
    labels: np.ndarray
    speakers: np.ndarray
    ids: list[int]


def folds(corpus: Corpus) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(train, val, test) index arrays per fold: RAVDESS 6 stratified folds grouped by actor,
    EmoDB one fold per speaker; validation = the next fold's test speakers."""
    from sklearn.model_selection import LeaveOneGroupOut, StratifiedGroupKFold

    idx = np.arange(len(corpus.labels))
    if corpus.name == "ravdess":
        splitter = StratifiedGroupKFold(n_splits=6, shuffle=True, random_state=0)
        tests = [test for _, test in splitter.split(idx, corpus.labels, corpus.speakers)]
    else:
        tests = [test for _, test in LeaveOneGroupOut().split(idx, corpus.labels, corpus.speakers)]
    out = []
    for k, test in enumerate(tests):
        val = tests[(k + 1) % len(tests)]
        train = np.setdiff1d(idx, np.concatenate([test, val]))
        out.append((train, val, test))
    return out


def run_fold(*, family: str, hparams: dict, corpus: Corpus, split: tuple, device: str, workdir: Path) -> dict:
    """Train and test one fold; returns the engine's test metrics plus `seconds` (wall) and
    `cpu_seconds` (process CPU time). The one place to switch to the platform's cross-validated
    runs (a TrainingRun per fold)."""
    from training.ml.engine import Dataset, train

    def subset(ix: np.ndarray) -> Dataset:
        return Dataset([corpus.samples[i] for i in ix], corpus.labels[ix], [corpus.ids[i] for i in ix])

    tr, va, te = split
    wall, cpu = time.perf_counter(), time.process_time()
    result = train(
        family=family,
        hparams=hparams,
        train=subset(tr),
        val=subset(va),
        test=subset(te),
        labels=LABELS,
        workdir=workdir,
        device=device,
        resume=False,
    )
    shutil.rmtree(workdir, ignore_errors=True)
    return {
        **result.test_metrics,
        "seconds": time.perf_counter() - wall,
        "cpu_seconds": time.process_time() - cpu,
        "epochs_run": len(result.history),
    }


def load_corpus(name: str, project, source) -> Corpus:
    """The 4-class clips of `source` as a release selects and decodes them."""
    from corpus.audio import stored_file_reader
    from releases.augment import release_item_samples
    from releases.build import ReleaseParams, release_candidates
    from training.ml.audio import SAMPLE_RATE

    params = ReleaseParams(name=f"{name}4", label_set=list(LABELS), sources=[source.pk])
    cands = release_candidates(project=project, params=params)
    from corpus.models import Clip

    audio_names = dict(Clip.objects.filter(pk__in=[c.clip_id for c in cands]).values_list("pk", "audio"))
    read = stored_file_reader()
    samples = []
    for c in cands:
        x, sr = release_item_samples(
            audio_name=audio_names[c.clip_id], clip_id=c.clip_id, copy_index=0, seed=0, read=read
        )
        assert sr == SAMPLE_RATE, (c.clip_id, sr)
        samples.append(x.astype(np.float32))
    return Corpus(
        name=name,
        samples=samples,
        labels=np.array([LABELS.index(c.label) for c in cands]),
        speakers=np.array([c.speaker for c in cands]),
        ids=[c.clip_id for c in cands],
    )


def summarise(per_fold: list[dict]) -> dict:
    """Mean and std (population) over folds of ua, wa, macro_f1, seconds, cpu_seconds; pooled UA
    from the summed confusion matrices."""
    out = {}
    for key in ("ua", "wa", "macro_f1", "seconds", "cpu_seconds"):
        values = np.array([m[key] for m in per_fold], dtype=float)
        out[key] = (float(values.mean()), float(values.std()))
    cm = np.sum([np.array(m["confusion_matrix"]) for m in per_fold], axis=0)
    support = cm.sum(axis=1)
    out["pooled_ua"] = float(np.mean(np.diag(cm)[support > 0] / support[support > 0]))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--families", default=DEFAULT_FAMILIES)
    parser.add_argument("--corpora", default="ravdess,emodb")
    parser.add_argument("--folds-limit", type=int, default=None)
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--hparams", default="{}", help="JSON overrides for every family that has the names")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--verbose", action="store_true", help="log every epoch of every fold")
    args = parser.parse_args()
    overrides = json.loads(args.hparams)
    corpora = [c for c in args.corpora.split(",") if c]
    if unknown := sorted(set(corpora) - set(CORPORA)):
        parser.error(f"unknown corpus {', '.join(unknown)}; choose from {', '.join(CORPORA)}")

    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(args.threads)
    threadpool_limits(args.threads)
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
    if args.verbose:
        import logging

        logging.getLogger("training.ml.engine").setLevel(logging.INFO)
    from django.core.management import call_command

    from annotation.guideline import ensure_guideline
    from core.access import project_get_default
    from corpus.models import Source
    from releases.importers import label_mappings_ensure
    from training.ml.families import get_family

    call_command("migrate", verbosity=0)
    ensure_guideline()
    label_mappings_ensure()
    project = project_get_default()
    families = [f for f in args.families.split(",") if f]
    for f in families:
        get_family(f)  # ValueError naming the known families
    rows, best = [], {}
    for name in corpora:
        before = set(Source.objects.values_list("pk", flat=True))
        call_command("import_corpus", str(DATA / name), "--format", CORPORA[name], "--no-progress")
        source = Source.objects.exclude(pk__in=before).get()
        corpus = load_corpus(name, project, source)
        splits = folds(corpus)
        n = len(splits) if args.folds_limit is None else min(args.folds_limit, len(splits))
        scope = f"{n} of {len(splits)} folds" + ("" if n == len(splits) else " (PARTIAL)")
        for family in families:
            fam = get_family(family)
            hp = {k: v for k, v in overrides.items() if k in fam.schema}
            if args.epochs is not None and "epochs" in fam.schema:
                hp["epochs"] = args.epochs
            per_fold = []
            for k in range(n):
                m = run_fold(
                    family=family,
                    hparams=hp,
                    corpus=corpus,
                    split=splits[k],
                    device=args.device,
                    workdir=scratch / "runs" / f"{name}-{family}-{k}",
                )
                per_fold.append(m)
                print(
                    f"  {name} {family} fold {k + 1}/{len(splits)}: UA {m['ua']:.3f} WA {m['wa']:.3f} "
                    f"epochs {m['epochs_run']} {m['seconds']:.0f} s",
                    flush=True,
                )
            s = summarise(per_fold)
            best.setdefault(name, []).append(s["ua"][0])
            rows.append(
                (
                    name,
                    family,
                    scope,
                    f"{s['ua'][0]:.3f} ± {s['ua'][1]:.3f}",
                    f"{s['pooled_ua']:.3f}",
                    f"{s['wa'][0]:.3f} ± {s['wa'][1]:.3f}",
                    f"{s['macro_f1'][0]:.3f} ± {s['macro_f1'][1]:.3f}",
                    f"{s['seconds'][0]:.0f}",
                    f"{s['cpu_seconds'][0]:.0f}",
                )
            )
        print(
            f"{name}: {len(corpus.labels)} clips, {len(set(corpus.speakers))} speakers, classes "
            + ", ".join(f"{lab} {int((corpus.labels == i).sum())}" for i, lab in enumerate(LABELS))
        )
    print(
        f"device {args.device}, {args.threads} threads; "
        f"hparams overrides {json.dumps(overrides)}; epochs {args.epochs}"
    )
    header = (
        "corpus",
        "family",
        "folds",
        "UA mean ± std",
        "pooled UA",
        "WA",
        "macro-F1",
        "wall s/fold",
        "CPU s/fold",
    )
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, tuple("-" * w for w in widths), *rows]:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)))
    shutil.rmtree(scratch, ignore_errors=True)
    headline = best.get("ravdess") or best.get("emodb")
    print(f"best_mean_ua={max(headline):.3f}" if headline else "best_mean_ua=nan")


if __name__ == "__main__":
    main()
