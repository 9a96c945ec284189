"""Model families cross-validated with speakers held out: RAVDESS 4-class, 6 folds by actor, and
EmoDB 4-class, leave one speaker out (10 folds), through the platform (release -> cross-validated
run) or, for comparison, straight through the engine.

From the repository root (the commands of RESULTS.md, "Model families (issue #14)"):

    .venv/bin/python -m benchmarks.families
    .venv/bin/python -m benchmarks.families --families classical --corpora emodb
    .venv/bin/python -m benchmarks.families --families classical --corpora emodb --path engine
    .venv/bin/python -m benchmarks.families --families logmel_cnn --corpora emodb --folds-limit 3

Options: --path platform|engine (default platform); --families (comma-separated, default
classical,mfcc_lstm,logmel_cnn,mel_image); --corpora (ravdess,emodb); --folds-limit N (only the
first N folds of each corpus: the table then says "N of K folds (PARTIAL)"); --device cpu|cuda
(default cpu; the torch families take their GPU defaults on cuda, classical stays on the CPU);
--epochs N (overrides every torch family's epochs); --hparams JSON (overrides for every family
that has those names, for screening); --threads (torch and BLAS threads, default 2); --verbose
(every epoch of every fold); --data-dir (default $TUNISER_DATA_DIR, else ../shared/data).

1. Scratch database (SQLite, media and run directories in a temporary folder, deleted at the
   end); RAVDESS speech and EmoDB imported with `import_corpus` (RAVDESS calm -> neutral), one
   source each. Per corpus, the clips of happy, sad, angry, neutral (EmoDB: happiness, sadness,
   anger, neutral; boredom, disgust, fear left out), as `releases.build.release_candidates`
   selects them. No undersampling (balancing "none"; the torch families' loss is
   class-balanced).
2. Path "platform" (`platform_corpus`): the k-fold release is built with
   `releases.build.release_build` (split_kind "kfold", grouped by speaker, seed 0; RAVDESS
   folds=6, EmoDB folds=0: leave one speaker out), its clips decoded once into the platform's
   release cache (outside the timings), then per family one cross-validated TrainingRun
   (`training.services.run_create`, not queued). Each child fold runs in this process through
   `training.services.run_execute`, the body of the gpu-queue task `training.tasks.train_run`:
   child f tests fold f, validates on fold (f + 1) mod k, trains on the rest. Then
   `run_parent_sync`, and the table reads the parent's `cv_metrics`. With --folds-limit below
   k, the remaining folds are cancelled (`run_cancel` on the parent) and the same summary,
   `training.ml.metrics.cross_validation_summary`, is taken over the folds that ran.
3. Path "engine" (`engine_corpus`): the same clips decoded as releases decode them
   (`releases.augment.release_item_samples`), folded with scikit-learn (RAVDESS
   `StratifiedGroupKFold(6, shuffle, seed 0)` by actor, EmoDB `LeaveOneGroupOut` by speaker; in
   fold k the next fold's test speakers validate), each fold trained with
   `training.ml.engine.train` (`run_fold`). The platform's folds come from the same
   scikit-learn splitters over the same clips in the same order, so both paths have the same
   folds (each fold line names its test speakers: compare them).
4. Per family and corpus, both paths: `cross_validation_summary` of the folds' test metrics:
   mean +- sample std (ddof=1) over folds of UA, WA and macro-F1, pooled UA (from the summed
   confusion matrices); and the mean wall and CPU seconds of one fold's training.

Prints the table and, last, `best_mean_ua=<value>`: the highest mean UA over folds of any family
on RAVDESS (EmoDB when RAVDESS is not run), three decimals; nan when nothing trained.
"""

from __future__ import annotations

import argparse
import functools
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
# Folds of each corpus's k-fold release: RAVDESS 6 folds of 4 actors; EmoDB 0 = one per speaker.
RELEASE_FOLDS = {"ravdess": 6, "emodb": 0}
DEFAULT_FAMILIES = "classical,mfcc_lstm,logmel_cnn,mel_image"
PATHS = ("platform", "engine")
# The platform's k-fold release offers "none" (balance.STRATEGIES): the engine path never
# undersampled, so the platform path does not either.
BALANCING = "none"
HEADER = (
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


@dataclass
class Corpus:
    """One corpus's 4-class clips (engine path): float32 16 kHz samples, label indices into
    LABELS, speakers, clip ids."""

    name: str
    samples: list[np.ndarray]
    labels: np.ndarray
    speakers: np.ndarray
    ids: list[int]


def folds(corpus: Corpus) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(train, val, test) index arrays per fold (engine path): RAVDESS 6 stratified folds grouped
    by actor, EmoDB one fold per speaker; validation = the next fold's test speakers (none with
    2 folds, as on the platform)."""
    from sklearn.model_selection import LeaveOneGroupOut, StratifiedGroupKFold

    idx = np.arange(len(corpus.labels))
    if corpus.name == "ravdess":
        splitter = StratifiedGroupKFold(n_splits=6, shuffle=True, random_state=0)
        tests = [test for _, test in splitter.split(idx, corpus.labels, corpus.speakers)]
    else:
        tests = [test for _, test in LeaveOneGroupOut().split(idx, corpus.labels, corpus.speakers)]
    out = []
    for k, test in enumerate(tests):
        # As `training.services.release_fold_datasets`: with 2 folds no fold is left to validate.
        val = tests[(k + 1) % len(tests)] if len(tests) >= 3 else np.array([], dtype=int)
        train = np.setdiff1d(idx, np.concatenate([test, val]))
        out.append((train, val, test))
    return out


def run_fold(*, family: str, hparams: dict, corpus: Corpus, split: tuple, device: str, workdir: Path) -> dict:
    """Train and test one fold with the engine alone (path "engine").

    Returns:
        The engine's test metrics plus `seconds` (wall), `cpu_seconds` (process CPU time) and
        `epochs_run`.
    """
    from training.ml.engine import Dataset, train

    def subset(ix: np.ndarray) -> Dataset:
        return Dataset(
            [corpus.samples[i] for i in ix],
            corpus.labels[ix],
            [corpus.ids[i] for i in ix],
            [f"speaker:{corpus.speakers[i]}" for i in ix],
        )

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
    """The 4-class clips of `source` as a release selects and decodes them (engine path)."""
    from corpus.audio import stored_file_reader
    from corpus.models import Clip
    from releases.augment import release_item_samples
    from releases.build import ReleaseParams, release_candidates
    from training.ml.audio import SAMPLE_RATE

    params = ReleaseParams(name=f"{name}4", label_set=list(LABELS), sources=[source.pk])
    cands = release_candidates(project=project, params=params)
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


def summary_of(fold_metrics: list[dict]) -> dict:
    """`training.ml.metrics.cross_validation_summary` of the folds that ran (as a parent's
    `cv_metrics`); for a single fold, the same shape with that fold's figures as the mean and
    the std nan.

    Args:
        fold_metrics: one `training.ml.metrics.evaluate` output per fold (k >= 1), LABELS order.
    """
    from training.ml.metrics import cross_validation_summary, evaluate

    if len(fold_metrics) >= 2:
        return cross_validation_summary(fold_metrics, list(LABELS))
    (m,) = fold_metrics
    keys = ("ua", "wa", "macro_f1")
    cm = np.asarray(m["confusion_matrix"], dtype=np.int64)
    truth, predicted = np.nonzero(cm)
    counts = cm[truth, predicted]
    return {
        "k": 1,
        "labels": list(LABELS),
        "folds": [{"fold": 0, **{k: m[k] for k in keys}, "n_test": int(m["n"])}],
        "mean": {k: m[k] for k in keys},
        "std": dict.fromkeys(keys, float("nan")),
        "std_ddof": 1,
        "pooled": evaluate(np.repeat(truth, counts), np.repeat(predicted, counts), list(LABELS)),
        "confusion_matrix": cm.tolist(),
        "n_test": int(cm.sum()),
    }


def table_row(*, corpus: str, family: str, scope: str, summary: dict, seconds: float, cpu_seconds: float):
    """One line of the table (strings, HEADER's columns) from a `summary_of` / `cv_metrics`."""
    mean, std = summary["mean"], summary["std"]
    return (
        corpus,
        family,
        scope,
        f"{mean['ua']:.3f} ± {std['ua']:.3f}",
        f"{summary['pooled']['ua']:.3f}",
        f"{mean['wa']:.3f} ± {std['wa']:.3f}",
        f"{mean['macro_f1']:.3f} ± {std['macro_f1']:.3f}",
        f"{seconds:.0f}",
        f"{cpu_seconds:.0f}",
    )


def _device(family: str, device: str) -> str:
    """The classical family is scikit-learn on the CPU (it refuses "cuda"): with --device cuda
    it still runs, on the CPU; the torch families take `device`."""
    from training.ml.families import get_family

    return device if get_family(family).uses_torch else "cpu"


def _scope(n: int, k: int) -> str:
    return f"{n} of {k} folds" + ("" if n == k else " (PARTIAL)")


def _class_counts(labels) -> str:
    counts = {lab: 0 for lab in LABELS}
    for lab in labels:
        counts[lab] += 1
    return ", ".join(f"{lab} {n}" for lab, n in counts.items())


def corpus_import(name: str, data_dir: Path):
    """Import `data_dir / name` with `import_corpus` (format `CORPORA[name]`); returns its new
    Source."""
    from django.core.management import call_command

    from corpus.models import Source

    before = set(Source.objects.values_list("pk", flat=True))
    call_command("import_corpus", str(data_dir / name), "--format", CORPORA[name], "--no-progress")
    return Source.objects.exclude(pk__in=before).get()


def platform_corpus(
    *, name: str, project, source, families: list[str], hparams: dict, folds_limit, device: str, out=print
) -> list[dict]:
    """Path "platform" for one corpus: its k-fold release, then per family a cross-validated run
    whose folds run in this process (numbered steps 2 and 4 of the module docstring).

    Args:
        name: "ravdess" or "emodb" (RELEASE_FOLDS gives its folds).
        project, source: the project and the corpus's imported Source.
        families: family names.
        hparams: {family: hparams overrides} (validated by `run_create`).
        folds_limit: run only the first N folds (None: all).
        device: "cpu" or "cuda".
        out: print-like callable for the fold lines and the corpus line.
    Returns:
        Per family {"corpus", "family", "scope", "n_folds", "k", "summary" (`summary_of` shape;
        None if a fold failed), "seconds", "cpu_seconds" (means per fold run), "parent" (the
        parent TrainingRun id), "release" (the Release id), "error"}.
    """
    from releases.build import ReleaseParams, release_build
    from training import services
    from training.models import TrainingRun

    release = release_build(
        project=project,
        params=ReleaseParams(
            name=f"{name}4-cv",
            label_set=list(LABELS),
            balancing=BALANCING,
            split_kind="kfold",
            folds=RELEASE_FOLDS[name],
            group_by="speaker",
            seed=0,
            sources=[source.pk],
        ),
    )
    speakers: dict[int, set] = {}
    for fold, speaker in release.items.values_list("fold", "clip__speaker"):
        speakers.setdefault(fold, set()).add(speaker)
    k = len(speakers)
    n = k if folds_limit is None else min(folds_limit, k)
    # Decode the clips once into the release cache every child reads, outside the fold timings
    # (the engine path decodes outside them too).
    services.release_fold_datasets(release, fold=0)
    results = []
    for family in families:
        parent = services.run_create(
            release=release,
            family=family,
            hparams=hparams[family],
            device=_device(family, device),
            enqueue=False,
        )
        children = list(TrainingRun.objects.filter(parent=parent).order_by("fold"))
        walls, cpus = [], []
        for child in children[:n]:
            wall, cpu = time.perf_counter(), time.process_time()
            services.run_execute(run_id=child.pk)  # what the gpu-queue task train_run calls
            walls.append(time.perf_counter() - wall)
            cpus.append(time.process_time() - cpu)
            child.refresh_from_db()
            who = ",".join(sorted(speakers[child.fold]))
            if child.status != TrainingRun.Status.SUCCEEDED:
                line = f"  {name} {family} fold {child.fold + 1}/{k} (test {who}): {child.status}"
                out(f"{line}: {child.error}")
                continue
            m = child.test_metrics
            out(
                f"  {name} {family} fold {child.fold + 1}/{k} (test {who}): UA {m['ua']:.3f} "
                f"WA {m['wa']:.3f} epochs {len(child.history)} {walls[-1]:.0f} s"
            )
        if n < k:
            services.run_cancel(run=parent)  # the folds not run: cancelled, the parent with them
        services.run_parent_sync(parent_id=parent.pk)
        parent.refresh_from_db()
        ran = list(TrainingRun.objects.filter(parent=parent).order_by("fold")[:n])
        error = ""
        if n == k and parent.status == TrainingRun.Status.SUCCEEDED:
            summary = parent.cv_metrics
        elif all(c.status == TrainingRun.Status.SUCCEEDED for c in ran):
            summary = summary_of([c.test_metrics for c in ran])
        else:
            summary, error = None, parent.error or "a fold failed"
        results.append(
            {
                "corpus": name,
                "family": family,
                "scope": _scope(n, k),
                "n_folds": n,
                "k": k,
                "summary": summary,
                "seconds": float(np.mean(walls)),
                "cpu_seconds": float(np.mean(cpus)),
                "parent": parent.pk,
                "release": release.pk,
                "error": error,
            }
        )
    labels = list(release.items.values_list("label", flat=True))
    out(
        f"{name}: release {release} (k-fold, k={k}, grouped by speaker, balancing {BALANCING}), "
        f"{len(labels)} clips, {sum(len(s) for s in speakers.values())} speakers, classes "
        + _class_counts(labels)
    )
    return results


def engine_corpus(
    *,
    name: str,
    project,
    source,
    families: list[str],
    hparams: dict,
    folds_limit,
    device: str,
    workdir,
    out=print,
) -> list[dict]:
    """Path "engine" for one corpus (step 3 of the module docstring); arguments and return as
    `platform_corpus`, without "parent" and "release", plus `workdir` (scratch folder)."""
    corpus = load_corpus(name, project, source)
    splits = folds(corpus)
    k = len(splits)
    n = k if folds_limit is None else min(folds_limit, k)
    results = []
    for family in families:
        per_fold = []
        for f in range(n):
            m = run_fold(
                family=family,
                hparams=hparams[family],
                corpus=corpus,
                split=splits[f],
                device=_device(family, device),
                workdir=Path(workdir) / "runs" / f"{name}-{family}-{f}",
            )
            per_fold.append(m)
            who = ",".join(sorted(set(corpus.speakers[splits[f][2]].tolist())))
            out(
                f"  {name} {family} fold {f + 1}/{k} (test {who}): UA {m['ua']:.3f} WA {m['wa']:.3f} "
                f"epochs {m['epochs_run']} {m['seconds']:.0f} s"
            )
        results.append(
            {
                "corpus": name,
                "family": family,
                "scope": _scope(n, k),
                "n_folds": n,
                "k": k,
                "summary": summary_of(per_fold),
                "seconds": float(np.mean([m["seconds"] for m in per_fold])),
                "cpu_seconds": float(np.mean([m["cpu_seconds"] for m in per_fold])),
                "error": "",
            }
        )
    out(
        f"{name}: {len(corpus.labels)} clips, {len(set(corpus.speakers))} speakers, classes "
        + _class_counts(LABELS[i] for i in corpus.labels)
    )
    return results


def run_benchmark(
    *,
    project,
    corpora: list[str],
    families: list[str],
    path: str = "platform",
    folds_limit: int | None = None,
    device: str = "cpu",
    epochs: int | None = None,
    overrides: dict | None = None,
    data_dir: Path = DATA,
    workdir: Path | None = None,
    out=print,
) -> dict:
    """Import the corpora into the configured database and cross-validate every family on each,
    through `path`; print the fold lines, the table and `best_mean_ua=...`.

    Args:
        project: the project to import into.
        corpora: names of CORPORA.
        families: family names (`training.ml.families.get_family` refuses unknown ones).
        path: "platform" or "engine".
        folds_limit: only the first N folds of each corpus (None: all).
        device: "cpu" or "cuda".
        epochs: overrides every torch family's epochs (None: the family's).
        overrides: hparams overrides for every family that has the names.
        data_dir: the folder holding ravdess/ and emodb/.
        workdir: scratch folder of the engine path's fold runs (if None, a temporary one,
            removed at the end).
        out: print-like callable.
    Returns:
        {"results": the `platform_corpus` / `engine_corpus` dicts, "rows": the table's rows,
        "best_mean_ua": float (nan when nothing trained)}.
    Raises:
        ValueError: an unknown corpus, family or path.
    """
    from training.ml.families import get_family

    if path not in PATHS:
        raise ValueError(f"unknown path {path!r}; choose from {', '.join(PATHS)}")
    if unknown := sorted(set(corpora) - set(CORPORA)):
        raise ValueError(f"unknown corpus {', '.join(unknown)}; choose from {', '.join(CORPORA)}")
    overrides = overrides or {}
    hparams = {}
    for family in families:
        schema = get_family(family).schema  # ValueError naming the known families
        hparams[family] = {k: v for k, v in overrides.items() if k in schema}
        if epochs is not None and "epochs" in schema:
            hparams[family]["epochs"] = epochs
    own_workdir = workdir is None and path == "engine"  # a temporary one, removed at the end
    if own_workdir:
        workdir = Path(tempfile.mkdtemp(prefix="tuniser-families-engine-"))
    results = []
    for name in corpora:
        source = corpus_import(name, Path(data_dir))
        common = dict(
            name=name,
            project=project,
            source=source,
            families=families,
            hparams=hparams,
            folds_limit=folds_limit,
            device=device,
            out=out,
        )
        if path == "platform":
            results += platform_corpus(**common)
        else:
            results += engine_corpus(**common, workdir=workdir)
    out(
        f"path {path}; device {device}; hparams overrides {json.dumps(overrides)}; epochs {epochs}; "
        "std = sample std over folds (ddof=1)"
    )
    rows, best = [], {}
    for r in results:
        if r["summary"] is None:
            rows.append((r["corpus"], r["family"], r["scope"], f"FAILED: {r['error']}", *[""] * 5))
            continue
        best.setdefault(r["corpus"], []).append(r["summary"]["mean"]["ua"])
        rows.append(
            table_row(
                corpus=r["corpus"],
                family=r["family"],
                scope=r["scope"],
                summary=r["summary"],
                seconds=r["seconds"],
                cpu_seconds=r["cpu_seconds"],
            )
        )
    widths = [max(len(str(r[i])) for r in [HEADER, *rows]) for i in range(len(HEADER))]
    for row in [HEADER, tuple("-" * w for w in widths), *rows]:
        out("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    if own_workdir:
        shutil.rmtree(workdir, ignore_errors=True)
    headline = best.get("ravdess") or best.get("emodb")
    best_ua = max(headline) if headline else float("nan")
    out(f"best_mean_ua={best_ua:.3f}")
    return {"results": results, "rows": rows, "best_mean_ua": best_ua}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--path", default="platform", choices=PATHS)
    parser.add_argument("--families", default=DEFAULT_FAMILIES)
    parser.add_argument("--corpora", default="ravdess,emodb")
    parser.add_argument("--folds-limit", type=int, default=None)
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--hparams", default="{}", help="JSON overrides for every family that has the names")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--verbose", action="store_true", help="log every epoch of every fold")
    parser.add_argument("--data-dir", type=Path, default=DATA)
    args = parser.parse_args(argv)
    overrides = json.loads(args.hparams)
    corpora = [c for c in args.corpora.split(",") if c]
    if unknown := sorted(set(corpora) - set(CORPORA)):
        parser.error(f"unknown corpus {', '.join(unknown)}; choose from {', '.join(CORPORA)}")
    if args.folds_limit is not None and args.folds_limit < 1:
        parser.error("--folds-limit is a number of folds, at least 1")

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
    from releases.importers import label_mappings_ensure

    call_command("migrate", verbosity=0)
    ensure_guideline()
    label_mappings_ensure()
    try:
        return run_benchmark(
            project=project_get_default(),
            corpora=corpora,
            families=[f for f in args.families.split(",") if f],
            path=args.path,
            folds_limit=args.folds_limit,
            device=args.device,
            epochs=args.epochs,
            overrides=overrides,
            data_dir=args.data_dir,
            workdir=scratch / "engine",
            out=functools.partial(print, flush=True),
        )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
