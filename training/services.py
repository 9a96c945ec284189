"""Training runs: create, cancel, retry, execute (a Celery task on the `gpu` queue); evaluations
of a model version on another release (create, execute: also a `gpu` job); the one per-process
loader of a model version (`predictor_for`, used by inference too).

The ML itself lives in `training.ml` (no Django). This module turns a release into decoded
datasets (cached per release), claims the run row, relays progress and cancellation between the
row and the engine, and records the ModelVersion a finished run produces.
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

import numpy as np
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

import tuniser
from core import jobs
from core.errors import ApplicationError
from corpus.audio import stored_clip_samples, stored_file_reader
from corpus.models import VOICE_KEY_FIELDS, voice_key
from releases.augment import release_item_samples
from releases.models import Release, ReleaseItem
from training import selectors
from training.ml import engine, families, metrics
from training.models import Evaluation, Family, ModelVersion, TrainingRun

logger = logging.getLogger(__name__)

# A running cross-validation child refreshes its parent's row (progress, heartbeat) this often.
PARENT_SYNC_EVERY_S = 10.0


def _dirs() -> tuple[Path, Path, Path]:
    t = settings.TUNISER
    return Path(t["RUNS_DIR"]), Path(t["MODELS_DIR"]), Path(t["CACHE_DIR"])


def run_workdir(run: TrainingRun) -> Path:
    """The run's work directory, TUNISER_RUNS_DIR/run-<id> (its checkpoints; a retry resumes
    from them)."""
    return _dirs()[0] / f"run-{run.pk}"


def run_create(
    *,
    release: Release,
    family: str,
    hparams: dict | None = None,
    device: str = "auto",
    precision: str = "fp32",
    backbone: str = "",
    name: str = "",
    created_by=None,
    enqueue: bool = True,
) -> TrainingRun:
    """Validate and queue a training run. Invalid combinations are refused with a message.

    Checks no role (the API does). A "cuda" device is checked by the GPU worker, not here.

    Args:
        release: the release to train on (its project becomes the run's).
        family: a Family value ("transformer", "mfcc_lstm", "logmel_cnn", "classical").
        hparams: overrides of the family's defaults; resolved and checked by
            `training.ml.families.validate` (the full dict is stored as `resolved_hparams`).
        device: "auto", "cuda" or "cpu".
        precision: "fp32", "fp16" or "bf16".
        backbone: transformer family only: a local directory with a saved model (config.json).
        name: an optional display name.
        created_by: the user recorded on the run.
        enqueue: queue `training.tasks.train_run` after commit.
    Returns:
        The new TrainingRun (status queued). On a "kfold" release it is a cross-validated parent
        with one queued child run per fold (`parent`, `fold`; named "<name> · fold f"): only the
        children are queued; the parent's status follows theirs (`run_parent_sync`).
    Raises:
        ValidationError: {field: message} for an unknown family, device or precision, invalid
            hparams, a missing or unsaved backbone, a release with fewer than two labels, or a
            k-fold release with fewer than two folds.
    """
    resolved, folds = run_check(
        release=release, family=family, hparams=hparams, device=device, precision=precision, backbone=backbone
    )
    hparams = dict(hparams or {})
    fields = dict(
        project=release.project,
        release=release,
        family=family,
        hparams=hparams,
        resolved_hparams=resolved,
        device=device,
        precision=precision,
        backbone=backbone,
        created_by=created_by,
    )
    with transaction.atomic():
        run = TrainingRun.objects.create(name=name, **fields)
        if release.params.get("split_kind") != "kfold":
            if enqueue:
                _enqueue(run)
            return run
        # Cross-validation: the parent trains nothing; one child per fold, each a run of its
        # own on the gpu queue (claimed, checkpointed and resumed exactly like any run).
        for fold in folds:
            child = TrainingRun.objects.create(
                name=f"{name or run} · fold {fold}", parent=run, fold=fold, **fields
            )
            if enqueue:
                _enqueue(child)
    return run


def run_check(
    *, release: Release, family: str, hparams: dict | None, device: str, precision: str, backbone: str
) -> tuple[dict, list[int]]:
    """The checks of `run_create`, writing nothing (the admin's form runs them to show their
    messages on the form).

    Returns:
        (the resolved hyper-parameters, the release's folds: [] for a holdout release).
    Raises:
        ValidationError: as `run_create`.
    """
    if hparams is not None and not isinstance(hparams, dict):
        raise ValidationError({"hparams": "The hyper-parameters are a JSON object of name: value."})
    if family not in Family.values:
        raise ValidationError({"family": f"Unknown family '{family}'."})
    if device not in TrainingRun.Device.values:
        raise ValidationError({"device": f"Device must be one of {', '.join(TrainingRun.Device.values)}."})
    if precision not in TrainingRun.Precision.values:
        raise ValidationError(
            {"precision": f"Precision must be one of {', '.join(TrainingRun.Precision.values)}."}
        )
    try:
        resolved = families.validate(family, hparams, device=device, precision=precision)
    except ValueError as exc:
        raise ValidationError({"hparams": str(exc)}) from exc
    if family == "transformer":
        if not backbone:
            raise ValidationError(
                {"backbone": "The transformer family needs a backbone: a local model directory."}
            )
        if not (Path(backbone) / "config.json").is_file():
            raise ValidationError(
                {"backbone": f"'{backbone}' is not a saved model directory (no config.json)."}
            )
    # device "cuda" is checked by the GPU worker that runs the job (the web server has no GPU).
    labels = release.params.get("label_set") or []
    if len(labels) < 2:
        raise ValidationError({"release": "The release needs at least two labels to train on."})
    folds = release_folds(release)
    if release.params.get("split_kind") == "kfold" and len(folds) < 2:
        raise ValidationError(
            {"release": "This k-fold release has fewer than two folds: nothing to cross-validate."}
        )
    return resolved, folds


def release_folds(release: Release) -> list[int]:
    """The folds of a "kfold" release (0 .. k-1), from its items; [] for a holdout release."""
    return sorted(set(release.items.exclude(fold=None).values_list("fold", flat=True)))


def _enqueue(run: TrainingRun) -> None:
    from training.tasks import train_run

    transaction.on_commit(lambda: train_run.delay(run.pk))


def run_cancel(*, run: TrainingRun) -> TrainingRun:
    """A queued run is cancelled at once; a running one stops at its next step (keeping its best
    checkpoint).

    A cross-validated parent cancels every child still queued or running, and is cancelled
    once none is active (`run_parent_sync`).

    Args:
        run: the run (re-read under a row lock).
    Returns:
        The run as saved: status cancelled, or still running with `cancel_requested` set.
    Raises:
        ValidationError: the run is already finished (succeeded, failed or cancelled).
    """
    if TrainingRun.objects.filter(parent_id=run.pk).exists():
        return _parent_cancel(parent=run)
    with transaction.atomic():
        run = TrainingRun.objects.select_for_update().get(pk=run.pk)
        if run.status == TrainingRun.Status.QUEUED:
            run.status = TrainingRun.Status.CANCELLED
            run.finished_at = timezone.now()
        elif run.status == TrainingRun.Status.RUNNING:
            run.cancel_requested = True
        else:
            raise ValidationError(f"Run #{run.pk} is {run.status}: there is nothing to cancel.")
        run.save(update_fields=["status", "finished_at", "cancel_requested"])
        if run.parent_id:
            run_parent_sync(parent_id=run.parent_id)
    return run


def _parent_cancel(*, parent: TrainingRun) -> TrainingRun:
    with transaction.atomic():
        parent = TrainingRun.objects.select_for_update().get(pk=parent.pk)
        active = list(
            parent.children.filter(status__in=[TrainingRun.Status.QUEUED, TrainingRun.Status.RUNNING])
        )
        if not active:
            raise ValidationError(f"Run #{parent.pk} is {parent.status}: there is nothing to cancel.")
        TrainingRun.objects.filter(pk=parent.pk).update(cancel_requested=True)
        for child in active:
            run_cancel(run=child)
        run_parent_sync(parent_id=parent.pk)
    return TrainingRun.objects.get(pk=parent.pk)


def run_retry(*, run: TrainingRun) -> TrainingRun:
    """Queue a failed, cancelled or dead run again: it resumes from its last checkpoint.

    "Dead" is RUNNING with a heartbeat older than `TrainingRun.stale_limit()` (`JobRow.stale_q`).
    The error, traceback, finish time and cancel request are cleared; the task is queued after
    commit.

    A cross-validated parent retries each of its failed, cancelled or dead children (each
    resumes from its own checkpoint; succeeded folds are kept), and follows them again.

    Args:
        run: the run (re-read under a row lock).
    Returns:
        The run, status queued (a parent: queued or running, as its children).
    Raises:
        ValidationError: the run is queued, succeeded, or running with a fresh heartbeat (a
            parent: no child of it can be retried).
    """
    if TrainingRun.objects.filter(parent_id=run.pk).exists():
        return _parent_retry(parent=run)
    with transaction.atomic():
        run = TrainingRun.objects.select_for_update().get(pk=run.pk)
        dead = TrainingRun.objects.filter(TrainingRun.stale_q(), pk=run.pk).exists()
        if run.status not in (TrainingRun.Status.FAILED, TrainingRun.Status.CANCELLED) and not dead:
            raise ValidationError(
                f"Run #{run.pk} is {run.status}; only failed, cancelled or dead runs are retried."
            )
        run.status = TrainingRun.Status.QUEUED
        run.cancel_requested = False
        run.error = ""
        run.traceback = ""
        run.finished_at = None
        run.save(update_fields=["status", "cancel_requested", "error", "traceback", "finished_at"])
        _enqueue(run)
        if run.parent_id:
            run_parent_sync(parent_id=run.parent_id)
    return run


def _parent_retry(*, parent: TrainingRun) -> TrainingRun:
    with transaction.atomic():
        parent = TrainingRun.objects.select_for_update().get(pk=parent.pk)
        finished = [TrainingRun.Status.FAILED, TrainingRun.Status.CANCELLED]
        children = list(
            TrainingRun.objects.filter(Q(status__in=finished) | TrainingRun.stale_q(), parent=parent)
        )
        if not children:
            raise ValidationError(
                f"Run #{parent.pk} is {parent.status}; none of its folds failed, was cancelled or died."
            )
        TrainingRun.objects.filter(pk=parent.pk).update(cancel_requested=False)
        for child in children:
            run_retry(run=child)
        run_parent_sync(parent_id=parent.pk)
    return TrainingRun.objects.get(pk=parent.pk)


def run_parent_sync(*, parent_id: int) -> None:
    """Make a cross-validated parent's row follow its children (called by every change of a
    child: its claim, its epochs, its end, a cancel, a retry, a give-up; and by the parent's own
    task message, which the job sweep may send).

    1. Lock the parent row and read the children.
    2. Status: RUNNING while any child runs, or while some are queued and some finished; QUEUED
       while all are queued; else FAILED if any failed (the error names each failed fold, its
       run and its reason); else CANCELLED if any was cancelled; else SUCCEEDED.
    3. Progress is the children's mean; a running parent's heartbeat is refreshed (so the sweep
       rarely takes it for dead; if it does, its message only syncs it again).
    4. On success, `cv_metrics` = `cross_validation_summary` of the children's test metrics in
       fold order. The parent gets no `test_metrics` and no ModelVersion: the k fold models
       estimate how well the recipe generalises to unseen speakers; none of them is the model to
       deploy (train a holdout run, or a release of all speakers, for that).

    Args:
        parent_id: the parent TrainingRun's id.
    """
    from training.ml.metrics import cross_validation_summary

    S = TrainingRun.Status
    now = timezone.now()
    with transaction.atomic():
        parent = TrainingRun.objects.select_for_update().filter(pk=parent_id).first()
        children = list(parent.children.order_by("fold")) if parent else []
        if not children:
            return
        statuses = {c.status for c in children}
        fields: dict = {"progress": round(float(np.mean([c.progress for c in children])), 4)}
        if S.RUNNING in statuses or (S.QUEUED in statuses and statuses != {S.QUEUED}):
            status = S.RUNNING
        elif statuses == {S.QUEUED}:
            status = S.QUEUED
        elif S.FAILED in statuses:
            status = S.FAILED
        elif S.CANCELLED in statuses:
            status = S.CANCELLED
        else:
            status = S.SUCCEEDED
        fields["status"] = status
        if status == S.RUNNING:
            fields["heartbeat_at"] = now
            fields["started_at"] = parent.started_at or now
        if status in (S.QUEUED, S.RUNNING):
            fields.update(finished_at=None, error="", cv_metrics=None)
        else:
            fields["finished_at"] = parent.finished_at if parent.status == status else now
        if status == S.FAILED:
            fields["error"] = "; ".join(
                f"Fold {c.fold} (run #{c.pk}) failed: {c.error or 'no reason recorded'}"
                for c in children
                if c.status == S.FAILED
            )
        if status == S.CANCELLED:
            fields["error"] = "Cancelled: " + ", ".join(
                f"fold {c.fold} (run #{c.pk})" for c in children if c.status == S.CANCELLED
            )
        if status == S.SUCCEEDED:
            labels = list(parent.release.params["label_set"])
            fields["cv_metrics"] = cross_validation_summary([c.test_metrics for c in children], labels)
            for c, row in zip(children, fields["cv_metrics"]["folds"], strict=True):
                row.update(fold=c.fold, run=c.pk)
        TrainingRun.objects.filter(pk=parent_id).update(**fields)


def run_given_up(*, pk: int, error: str) -> None:
    """After core.jobs gave up run `pk` (its worker lost on the last attempt): a child's parent
    follows it (failed). Its checkpoint stays: `run_retry` resumes from it.

    Args:
        pk: the TrainingRun's id.
        error: the reason written on the row (the parent's error quotes it).
    """
    parent_id = TrainingRun.objects.filter(pk=pk).values_list("parent_id", flat=True).first()
    if parent_id:
        run_parent_sync(parent_id=parent_id)


def run_mark_dead(*, run: TrainingRun) -> None:
    """Used when a worker is known to be gone (e.g. the worker's own shutdown, or tests).

    Backdates a RUNNING run's heartbeat past `stale_limit()`, so that `JobRow.stale_q` counts it
    dead: it may then be retried or re-claimed. A run in any other status is left alone.

    Args:
        run: the run.
    """
    TrainingRun.objects.filter(pk=run.pk, status=TrainingRun.Status.RUNNING).update(
        heartbeat_at=timezone.now() - 2 * TrainingRun.stale_limit()
    )


# --- data ----------------------------------------------------------------------------------------


def release_datasets(release: Release) -> tuple[engine.Dataset, engine.Dataset, engine.Dataset, list[str]]:
    """The release's clips decoded once to float32 arrays, cached per release (and checksum).

    Augmented training copies (oversampling) are made with the same seed as the export.

    The cache, TUNISER_CACHE_DIR/releases/release-<id>-<checksum[:16]>.npz, holds 16-bit PCM
    (as the export's WAVs), written to a temporary file and renamed into place.

    Args:
        release: the release.
    Returns:
        (train, validation, test, labels): `training.ml.engine.Dataset`s of float32 (n_i,)
        16 kHz mono arrays in [-1, 1], label indices into `labels`, and clip ids; items ordered
        by (split, label, clip id, copy index). `labels` is the release's `label_set`.
    Raises:
        FileNotFoundError, soundfile.LibsndfileError: a clip's audio is missing or unreadable
            (while the cache is built).
    """
    labels = list(release.params["label_set"])
    data = _load_cache(release, labels)
    out = [_subset(data, data["splits"] == split) for split in ("train", "validation", "test")]
    return out[0], out[1], out[2], labels


def release_fold_datasets(
    release: Release, *, fold: int
) -> tuple[engine.Dataset, engine.Dataset, engine.Dataset, list[str]]:
    """The datasets of one cross-validation child: test on `fold`, train on the others.

    Validation (early stopping, best epoch) is the next fold, (fold + 1) mod k: whole speakers
    the child neither trains nor is tested on, so early stopping is speaker-independent too. With
    k = 2 no fold is left for it: validation is then empty (torch families train every epoch and
    keep the last; the classical family has no early stopping anyway).

    Args:
        release: a "kfold" release (items with `fold`).
        fold: the test fold, 0 .. k-1.
    Returns:
        (train, validation, test, labels), as `release_datasets`, from the same cache.
    Raises:
        ValueError: `fold` is not a fold of the release.
    """
    labels = list(release.params["label_set"])
    data = _load_cache(release, labels)
    folds = data["folds"]
    k = len(set(folds[folds >= 0].tolist()))
    if not 0 <= fold < k:
        raise ValueError(f"Release #{release.pk} has folds 0..{k - 1}, not {fold}.")
    val_fold = (fold + 1) % k if k >= 3 else -2  # -2 matches no item
    test = folds == fold
    val = folds == val_fold
    return _subset(data, ~test & ~val), _subset(data, val), _subset(data, test), labels


def _load_cache(release: Release, labels: list[str]):
    cache = _dirs()[2] / "releases" / f"release-{release.pk}-{release.checksum[:16]}.npz"
    data = np.load(cache) if cache.exists() else None
    if data is None or "folds" not in data or "voices" not in data:  # written before them: rebuild
        _build_cache(release, labels, cache)
        data = np.load(cache)
    return data


def _subset(data, mask) -> engine.Dataset:
    audio, offsets = data["audio"], data["offsets"]
    idx = np.flatnonzero(mask)
    samples = [audio[offsets[i] : offsets[i + 1]].astype(np.float32) / 32768.0 for i in idx]
    return engine.Dataset(
        samples=samples,
        labels=data["labels"][idx],
        ids=[int(x) for x in data["ids"][idx]],
        voices=[str(v) for v in data["voices"][idx]],
    )


def _build_cache(release: Release, labels: list[str], cache: Path) -> None:
    items = list(
        release.items.select_related("clip__speaker_cluster").order_by(
            "split", "label", "clip_id", "copy_index"
        )
    )
    seed = int(release.params.get("seed", 0))
    chunks, offsets, ids, splits, ys, folds, voices = [], [0], [], [], [], [], []
    read = stored_file_reader()
    for item in items:
        samples, _ = release_item_samples(
            audio_name=item.clip.audio.name,
            clip_id=item.clip_id,
            copy_index=item.copy_index,
            seed=seed,
            read=read,
        )
        pcm = np.clip(samples * 32768.0, -32768, 32767).astype(np.int16)
        chunks.append(pcm)
        offsets.append(offsets[-1] + len(pcm))
        ids.append(item.clip_id)
        splits.append(item.split)
        folds.append(-1 if item.fold is None else item.fold)
        ys.append(labels.index(item.label))
        voices.append(item.clip.voice_key)
    cache.parent.mkdir(parents=True, exist_ok=True)
    # A name of its own per writer: the children of a cross-validated run may build it at once.
    tmp = cache.with_name(f"{cache.stem}.{uuid.uuid4().hex}.tmp.npz")
    np.savez(
        tmp,
        audio=np.concatenate(chunks) if chunks else np.zeros(0, np.int16),
        offsets=np.array(offsets),
        ids=np.array(ids),
        splits=np.array(splits),
        labels=np.array(ys),
        folds=np.array(folds, dtype=np.int64),
        voices=np.array(voices, dtype=str),
    )
    tmp.replace(cache)


# --- execution ---------------------------------------------------------------------------------


def _cancel_relay(run_id: int, progress: jobs.JobProgress, parent_id: int | None = None):
    """Progress from the engine to the row (throttled, every epoch end forced), and cancellation
    from the row to the engine: the returned callable answers True once a person cancelled.

    A cross-validation child also syncs its parent (progress, heartbeat) at every epoch end and
    at most every PARENT_SYNC_EVERY_S between, well inside the parent's stale limit."""
    cancelled = False
    synced = time.monotonic()

    def on_progress(p: engine.Progress) -> bool:
        nonlocal cancelled, synced
        fields = {"epoch": p.epoch, "step": p.step, "total_steps": p.total_steps}
        if p.epoch_done:
            fields["history"] = p.history
        fraction = p.step / p.total_steps if p.total_steps else 0.0
        if progress(fraction, force=p.epoch_done, **fields):
            cancelled = TrainingRun.objects.filter(pk=run_id, cancel_requested=True).exists()
            if parent_id and (p.epoch_done or time.monotonic() - synced >= PARENT_SYNC_EVERY_S):
                run_parent_sync(parent_id=parent_id)
                synced = time.monotonic()
        return cancelled

    return on_progress


def run_execute(*, run_id: int) -> bool:
    """Train one claimed run to the end (or to its cancellation), and record the model.

    1. Claim the row (core.jobs: queued, or running with a stale heartbeat: its worker died);
       each claim counts one more attempt.
    2. Decode the release once (cached), then train with the engine: it checkpoints every epoch
       and resumes from the last checkpoint of this run's work directory.
    3. Success: copy the exported model to TUNISER_MODELS_DIR/<project slug>/run-<id>-<family>
       and create its ModelVersion, with the metrics, in one transaction with the row's success.
       Cancellation keeps the best checkpoint. GPU memory exhaustion (with the batch size that
       failed) and every other failure are recorded on the row with their reason.

    A cross-validation child (`fold` set) trains on its release's other folds, validates on the
    next fold and tests on its own (`release_fold_datasets`); it records its test metrics and no
    ModelVersion, and its parent follows it (`run_parent_sync`). A parent's own message (the job
    sweep may send one) only syncs the parent with its children.

    Args:
        run_id: the TrainingRun's id.
    Returns:
        False if the run was not free to take; True once this call ran it (or synced a parent).
    """
    if TrainingRun.objects.filter(parent_id=run_id).exists():
        run_parent_sync(parent_id=run_id)
        return True
    ran = jobs.job_execute(TrainingRun, run_id, _train, progress_every_s=1.0)
    parent_id = TrainingRun.objects.filter(pk=run_id).values_list("parent_id", flat=True).first()
    if parent_id:
        run_parent_sync(parent_id=parent_id)
    return ran


def _train(run: TrainingRun, progress: jobs.JobProgress) -> dict | None:
    if run.fold is not None:
        run_parent_sync(parent_id=run.parent_id)  # the parent is running from this claim on
        train, val, test, labels = release_fold_datasets(run.release, fold=run.fold)
    else:
        train, val, test, labels = release_datasets(run.release)
    result = engine.train(
        family=run.family,
        hparams=run.hparams,
        train=train,
        val=val,
        test=test,
        labels=labels,
        workdir=run_workdir(run),
        device=run.device,
        precision=run.precision,
        on_progress=_cancel_relay(run.pk, progress, run.parent_id),
        backbone_dir=Path(run.backbone) if run.backbone else None,
        resume=True,
    )
    common = {
        "history": result.history,
        "resumed_from_epoch": result.resumed_from_epoch,
        "resolved_hparams": result.hparams,
        "used_device": result.device,
    }
    if result.cancelled:
        raise jobs.JobCancelled(**common)
    if run.fold is not None:
        # A fold's model stays in its work directory (checkpoints and export), not a ModelVersion.
        return {"test_metrics": result.test_metrics, **common}
    _, models_dir, _ = _dirs()
    rel = f"{run.project.slug}/run-{run.pk}-{run.family}"
    target = models_dir / rel
    shutil.rmtree(target, ignore_errors=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(result.artifact_dir, target)
    from training.ml.predict import read_config

    with transaction.atomic():
        jobs.job_succeed(TrainingRun, run.pk, test_metrics=result.test_metrics, **common)
        ModelVersion.objects.create(
            project=run.project,
            run=run,
            release=run.release,
            family=run.family,
            name=f"{run.family}-{run.release.name}-v{run.release.version}-run{run.pk}",
            path=rel,
            labels=labels,
            config=read_config(target),
            metrics={
                "test": result.test_metrics,
                "validation": result.val_metrics,
                "best_epoch": result.best_epoch,
                "n_params": result.n_params,
            },
            platform_version=tuniser.__version__,
        )


# --- loading a model ------------------------------------------------------------------------------

_predictors: dict[tuple, object] = {}
_predictors_lock = threading.Lock()


def predictor_for(model_version: ModelVersion):
    """The model of `model_version`, loaded on first use in this process (GPU when present).

    The one loader of a model version for the pre-labeller, the inference API and evaluations
    (`inference.services` uses it; training does not import inference). The cache keeps one model
    per process: loading another evicts the previous one. The classical family always runs on the
    CPU, the torch families on device "auto".

    Args:
        model_version: the model to load (from its `artifact_dir`).
    Returns:
        A `training.ml.predict.Predictor` (`labels`, `predict_proba`).
    Raises:
        FileNotFoundError, ValueError: as `training.ml.predict.load_predictor` (no or malformed
            config.json, unknown family, incompatible scikit-learn version).
    """
    # Keyed by more than the id: an id can come back (SQLite reuses the ids of rolled-back rows),
    # and a model served under another model's id would be a silent wrong answer.
    key = (model_version.pk, model_version.path, model_version.created_at)
    with _predictors_lock:
        predictor = _predictors.get(key)
        if predictor is None:
            from training.ml.predict import load_predictor

            device = "auto" if model_version.family != "classical" else "cpu"
            predictor = load_predictor(model_version.artifact_dir, device=device)
            _predictors.clear()  # keep one model per process: a worker serves one project's active model
            _predictors[key] = predictor
        return predictor


# --- evaluation on another release -------------------------------------------------------------

# Clips read and predicted per batch (as the pre-labeller's batches).
EVAL_BATCH = 256


def evaluation_items(
    *, model_version: ModelVersion, release: Release, split: str
) -> tuple[list[tuple[int, str, str]], int, dict[str, int]]:
    """The items of `release` an evaluation of `model_version` predicts, and those it leaves out.

    1. Take the release's original items (copy index 0; augmented copies are never evaluated),
       of `split` if given.
    2. Leave out the clips the model was trained or validated on
       (`training.selectors.model_version_seen_clip_ids`), counted.
    3. Leave out items whose label (an emotion code) is not among the model's `labels`, counted
       per label.

    Args:
        model_version: the model.
        release: the evaluated release (the same project; not checked here).
        split: "train", "validation", "test", or "" for all items.
    Returns:
        (items, n_seen, unmatched): items as (clip id, label, clip audio storage name, voice key
        (`corpus.models.voice_key`)) in (split, label, clip id) order; the number left out as
        seen; {label: items} left out as unknown to the model (sorted by label).
    """
    qs = ReleaseItem.objects.filter(release=release, copy_index=0)
    if split:
        qs = qs.filter(split=split)
    seen = selectors.model_version_seen_clip_ids(model_version)
    known = set(model_version.labels)
    items, n_seen, unmatched = [], 0, Counter()
    for clip_id, label, name, speaker, series_speaker_id, cluster_id in qs.order_by(
        "split", "label", "clip_id"
    ).values_list("clip_id", "label", "clip__audio", *(f"clip__{f}" for f in VOICE_KEY_FIELDS)):
        if clip_id in seen:
            n_seen += 1
        elif label not in known:
            unmatched[label] += 1
        else:
            voice = voice_key(speaker=speaker, series_speaker_id=series_speaker_id, cluster_id=cluster_id)
            items.append((clip_id, label, name, voice))
    return items, n_seen, dict(sorted(unmatched.items()))


def evaluation_create(
    *, model_version: ModelVersion, release: Release, split: str = "", created_by=None, enqueue: bool = True
) -> Evaluation:
    """Validate and queue the evaluation of a model version on a release of its project.

    Checks no role (the API does). The exclusions (`evaluation_items`) are counted here already,
    so that an evaluation with nothing left to predict is refused before it is queued.

    Args:
        model_version: the model to evaluate.
        release: a release of the model's project (another corpus, or the model's own release).
        split: "train", "validation", "test", or "" for all the release's items.
        created_by: the user recorded on the row.
        enqueue: queue `training.tasks.evaluate` (the `gpu` queue) after commit.
    Returns:
        The new Evaluation (status queued), with `n_excluded_seen` and `n_excluded_unmatched`.
    Raises:
        ValidationError: {"release": ...} the release belongs to another project; {"split": ...}
            an unknown split, or one the release has no item in.
        ApplicationError 400 (`nothing_to_evaluate`): no item is left once the items the model
            saw and those with labels it does not know are left out (the message counts both).
    """
    items, n_seen, unmatched = evaluation_check(model_version=model_version, release=release, split=split)
    with transaction.atomic():
        evaluation = Evaluation.objects.create(
            project=model_version.project,
            model_version=model_version,
            release=release,
            split=split,
            n_excluded_seen=n_seen,
            n_excluded_unmatched=unmatched,
            created_by=created_by,
        )
        if enqueue:
            from training.tasks import evaluate

            transaction.on_commit(lambda: evaluate.delay(evaluation.pk))
    return evaluation


def evaluation_check(*, model_version: ModelVersion, release: Release, split: str = ""):
    """The checks of `evaluation_create`, writing nothing (the admin's form runs them to show
    their messages on the form).

    Returns:
        `evaluation_items`'s (items, n_seen, unmatched).
    Raises:
        ValidationError, ApplicationError: as `evaluation_create`.
    """
    if release.project_id != model_version.project_id:
        raise ValidationError({"release": "This release belongs to another project than the model."})
    if split and split not in ReleaseItem.Split.values:
        raise ValidationError(
            {"split": f"Unknown split '{split}'. Choose from: {', '.join(ReleaseItem.Split.values)}, or all."}
        )
    if split and not release.items.filter(split=split).exists():
        raise ValidationError({"split": f"Release {release} has no item in its {split} split."})
    items, n_seen, unmatched = evaluation_items(model_version=model_version, release=release, split=split)
    if not items:
        labels = ", ".join(f"{label} ({n})" for label, n in unmatched.items()) or "none"
        raise ApplicationError(
            f"Nothing to evaluate: of the items of {release}{'/' + split if split else ''}, {n_seen} were "
            f"seen by the model in training or validation, and labels it does not know: {labels}.",
            code="nothing_to_evaluate",
        )
    return items, n_seen, unmatched


def evaluation_metrics(*, y_true: list[str], y_pred: list[str], labels: list[str]) -> dict:
    """The figures of an evaluation, from `training.ml.metrics.evaluate` (scikit-learn).

    - UA: balanced accuracy, the mean recall over the classes present in the evaluated items
      (sklearn's `balanced_accuracy_score`): a class of the model that the release lacks is not
      averaged in (its recall is undefined), but predicting it still costs the true class recall.
    - WA: accuracy. macro-F1: over the classes present in truth or prediction (a class the model
      predicts but the release lacks counts with F1 = 0).
    - The confusion matrix keeps the rows of the matched labels (the model's labels the items
      carry, in the model's order) and every column of the model's labels, so no prediction is
      dropped: each row sums to that label's support.

    Args:
        y_true: the items' labels (each one of `labels`), length n >= 1.
        y_pred: the predicted labels (each one of `labels`), length n.
        labels: the model's labels, in its output order.
    Returns:
        {"ua", "wa", "macro_f1" (floats in [0, 1]), "n" (int), "labels" (the model's, the
        columns), "matched_labels" (the rows), "confusion" (len(matched_labels) x len(labels) int
        lists), "per_class" ({label: precision, recall, f1, support}, matched labels only)}.
    Raises:
        ValueError: empty or unequal lengths (`metrics.evaluate`); a label not in `labels`.
    """
    index = {label: i for i, label in enumerate(labels)}
    full = metrics.evaluate([index[y] for y in y_true], [index[y] for y in y_pred], labels)
    present = set(y_true)
    matched = [label for label in labels if label in present]
    return {
        "ua": full["ua"],
        "wa": full["wa"],
        "macro_f1": full["macro_f1"],
        "n": full["n"],
        "labels": list(labels),
        "matched_labels": matched,
        "confusion": [full["confusion_matrix"][index[label]] for label in matched],
        "per_class": {label: full["per_class"][label] for label in matched},
    }


def evaluation_execute(*, evaluation_id: int) -> bool:
    """Predict the evaluated items with the model and store the figures (a job row).

    1. Claim the row (core.jobs); a re-run after a lost worker starts over: nothing is written
       before the end, so re-running is safe.
    2. Take the items again (`evaluation_items`: the release is immutable, so they are the ones
       counted at creation), read each clip's audio and predict in batches of EVAL_BATCH with
       the model loaded once (`predictor_for`), outside any transaction, with progress per batch;
       a speaker-normalised model gets each clip's voice key and predicts once all are read
       (`Predictor.iter_proba`).
    3. Succeed with `evaluation_metrics` and the exclusion counts, in one update of the row.

    Args:
        evaluation_id: the Evaluation's id.
    Returns:
        False if the row was not free to take; True once this call ran it (its outcome, failure
        included, is on the row).
    """
    return jobs.job_execute(Evaluation, evaluation_id, _evaluate)


def _evaluate(evaluation: Evaluation, progress: jobs.JobProgress) -> dict:
    mv = evaluation.model_version
    items, n_seen, unmatched = evaluation_items(
        model_version=mv, release=evaluation.release, split=evaluation.split
    )
    if not items:
        raise ApplicationError("Nothing to evaluate: every item was left out.", code="nothing_to_evaluate")
    predictor = predictor_for(mv)
    labels = list(predictor.labels)
    read = stored_file_reader()
    y_pred: list[str] = []
    # Each voice's clips predicted together: a speaker-normalised model reads their statistics.
    for _, _, proba in predictor.iter_proba(
        lambda a, b: [stored_clip_samples(item[2], read=read)[0] for item in items[a:b]],
        len(items),
        batch_size=EVAL_BATCH,
        voices=[item[3] for item in items],
        on_progress=progress,
    ):
        y_pred += [labels[int(i)] for i in proba.argmax(axis=1)]
    return {
        "metrics": evaluation_metrics(y_true=[item[1] for item in items], y_pred=y_pred, labels=labels),
        "n_excluded_seen": n_seen,
        "n_excluded_unmatched": unmatched,
    }
