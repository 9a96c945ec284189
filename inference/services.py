"""Pre-labelling with the active model, queue priorities, and inference on uploaded audio.

Models are loaded lazily, once per worker process (never at import time), and kept in a small
per-process cache keyed by ModelVersion id.
"""

from __future__ import annotations

import logging
import math
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np
import soundfile as sf
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction

from annotation import crowd
from annotation import selectors as annotation_selectors
from annotation import services as annotation_services
from annotation.models import AnnotationConfig, ClipConsensus, PoolEntry
from core import jobs
from core.constants import SAMPLE_RATE
from core.errors import ApplicationError
from core.models import JobStatus, Project
from corpus import audio, vad
from corpus import services as corpus_services
from corpus.models import VOICE_KEY_FIELDS, Clip, voice_key
from inference import selectors
from inference.models import Prediction, PrelabelJob, Prelabeller
from releases.models import GoldLabel
from training import selectors as training_selectors
from training import services as training_services
from training.models import ModelVersion

logger = logging.getLogger(__name__)
BATCH = 256
# The policies that `queue_reprioritise` ranks from the pre-labeller's predictions.
RANKED_POLICIES = ("rarest_predicted_first", "most_uncertain_first", "quota")

# The one loader of model versions lives in training (evaluations use it too); kept importable
# from here for the pre-labeller, the inference API and the benchmarks.
predictor_for = training_services.predictor_for


def entropy_bits(p: np.ndarray) -> np.ndarray:
    """Shannon entropy in bits of probability vectors along the last axis.

    Args:
        p: probabilities (..., n_classes); clipped to [1e-12, 1] so that 0 log 0 counts as 0.
    Returns:
        float array (...), from 0 (certain) to log2(n_classes) (uniform).
    """
    p = np.clip(p, 1e-12, 1.0)
    return -(p * np.log2(p)).sum(axis=-1)


# --- pre-labelling ------------------------------------------------------------------------------


def prelabeller_activate(
    *, project: Project, model_version: ModelVersion, user=None, show_to_annotators: bool = False
) -> Prelabeller:
    """Make `model_version` the project's pre-labeller (one per project; it replaces any other).

    Predictions already stored are not recomputed here (`prelabel_job_create` does that).
    Checks no role (the caller does).

    Args:
        project: the project.
        model_version: a model version of that project.
        user: recorded as `activated_by`.
        show_to_annotators: show the suggestion on the labelling page (off by default: a
            suggestion anchors annotators).
    Returns:
        The created or updated Prelabeller.
    Raises:
        ValidationError: the model version belongs to another project.
    """
    if model_version.project_id != project.pk:
        raise ValidationError("This model version belongs to another project.")
    with transaction.atomic():
        pre, _ = Prelabeller.objects.update_or_create(
            project=project,
            defaults={
                "model_version": model_version,
                "activated_by": user,
                "show_to_annotators": show_to_annotators,
            },
        )
    return pre


def prelabel_clips(*, model_version: ModelVersion, clip_ids: list[int]) -> int:
    """Predict the clips `model_version` has not predicted yet; store the rows; re-rank the queue.

    Audio is read and the model run outside any transaction; the rows are written in one per
    batch of BATCH clips. Each clip's voice key (`corpus.models.voice_key`) goes with it: a
    speaker-normalised model normalises the voices with enough clips among `clip_ids`. Each
    Prediction stores the probabilities (5 places), the top label and probability, and the
    entropy in bits. If anything was predicted, the labelling queue of the
    model's project is re-ranked (`queue_reprioritise`).

    Args:
        model_version: the model.
        clip_ids: clip ids (missing ones are ignored).
    Returns:
        The number of predictions sent for writing (a concurrent duplicate is ignored silently).
    Raises:
        as `predictor_for`, `corpus.audio.stored_clip_samples` and the predictor's
        `predict_proba`.
    """
    done = set(
        Prediction.objects.filter(model_version=model_version, clip_id__in=clip_ids).values_list(
            "clip_id", flat=True
        )
    )
    todo = list(
        Clip.objects.filter(pk__in=[c for c in clip_ids if c not in done]).values_list(
            "pk", "audio", *VOICE_KEY_FIELDS
        )
    )
    if not todo:
        return 0
    predictor = predictor_for(model_version)
    labels = list(predictor.labels)
    written = 0
    read = audio.stored_file_reader()
    voices = [voice_key(speaker=sp, series_speaker_id=ss, cluster_id=cl) for _, _, sp, ss, cl in todo]
    # Each voice's clips predicted together: a speaker-normalised model reads their statistics.
    for start, stop, proba in predictor.iter_proba(
        lambda a, b: [audio.stored_clip_samples(row[1], read=read)[0] for row in todo[a:b]],
        len(todo),
        batch_size=BATCH,
        voices=voices,
    ):
        chunk = todo[start:stop]
        ent = entropy_bits(proba)
        rows = [
            Prediction(
                clip_id=clip_id,
                model_version=model_version,
                top_label=labels[int(p.argmax())],
                top_probability=float(p.max()),
                entropy=float(e),
                probabilities={label: round(float(v), 5) for label, v in zip(labels, p, strict=True)},
            )
            for (clip_id, *_), p, e in zip(chunk, proba, ent, strict=True)
        ]
        with transaction.atomic():
            Prediction.objects.bulk_create(rows, ignore_conflicts=True, batch_size=1000)
        written += len(rows)
    project = model_version.project
    queue_reprioritise(project=project)
    return written


def on_clips_created(clip_ids: list[int]) -> None:
    """Corpus hook (inside the segmentation transaction): pre-label new clips after commit.

    Registered with `corpus.policies.register_clips_created_hook`. Does nothing unless the
    clips' project (read from the first clip) has a pre-labeller; otherwise queues
    `inference.tasks.prelabel_new_clips` with its model version after commit.

    Args:
        clip_ids: the new clips, all of one project.
    """
    if not clip_ids:
        return
    project_id = (
        Clip.objects.filter(pk=clip_ids[0]).values_list("recording__source__project_id", flat=True).first()
    )
    pre = Prelabeller.objects.filter(project_id=project_id).first()
    if pre is None:
        return
    from inference.tasks import prelabel_new_clips

    ids, mv = list(clip_ids), pre.model_version_id
    transaction.on_commit(lambda: prelabel_new_clips.delay(mv, ids))


def prelabel_job_create(
    *, project: Project, model_version: ModelVersion | None = None, user=None, enqueue: bool = True
) -> PrelabelJob:
    """Create (and queue after commit) a job that pre-labels the project's clips.

    Args:
        project: the project.
        model_version: the model to run; None: the project's pre-labeller's. It is not checked
            here against `project`.
        user: recorded as `created_by`.
        enqueue: queue `inference.tasks.run_prelabel_job` after commit.
    Returns:
        The new PrelabelJob (status queued).
    Raises:
        ValidationError: no model version given and the project has no pre-labeller.
    """
    if model_version is None:
        pre = Prelabeller.objects.filter(project=project).select_related("model_version").first()
        if pre is None:
            raise ValidationError("This project has no active pre-labeller: promote a model version first.")
        model_version = pre.model_version
    with transaction.atomic():
        job = PrelabelJob.objects.create(project=project, model_version=model_version, created_by=user)
        if enqueue:
            from inference.tasks import run_prelabel_job

            transaction.on_commit(lambda: run_prelabel_job.delay(job.pk))
    return job


def prelabel_job_execute(*, job_id: int) -> bool:
    """Pre-label every clip of the project not yet predicted by the job's model, in batches.

    A job row (core.jobs): claimed, progress and heartbeat per batch, failure recorded. Clips
    already predicted by this model version are skipped, so a re-run after a crash does the
    rest only (predictions are unique per model version and clip). Rejected and excluded clips
    are left out; the row's `n_total` and `n_done` count clips.

    Args:
        job_id: the PrelabelJob's id.
    Returns:
        False if the job was not free to take; True once this call ran it.
    """
    return jobs.job_execute(PrelabelJob, job_id, _prelabel)


def _prelabel(job: PrelabelJob, progress: jobs.JobProgress) -> None:
    predicted = Prediction.objects.filter(model_version=job.model_version).values("clip_id")
    clip_ids = list(
        Clip.objects.filter(recording__source__project=job.project)
        .exclude(status__in=[Clip.Status.REJECTED, Clip.Status.EXCLUDED])
        .exclude(pk__in=predicted)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    PrelabelJob.objects.filter(pk=job.pk).update(n_total=len(clip_ids))
    for start in range(0, len(clip_ids), BATCH):
        prelabel_clips(model_version=job.model_version, clip_ids=clip_ids[start : start + BATCH])
        n = min(start + BATCH, len(clip_ids))
        progress(n / len(clip_ids), force=True, n_done=n)


def queue_reprioritise(*, project: Project) -> int:
    """Rank the labelling queue by the active model's predictions, per the project's policy.

    rarest_predicted_first: clips whose predicted class is rarest among the project's labels so
      far (consensus counts; predictions before any label) come first, surest first — so Fear,
      Disgust, Surprise, Sad and Happy reach annotators before the overabundant Neutral.
    most_uncertain_first: highest entropy first (active learning: uncertainty sampling, see
      Settles 2009, "Active Learning Literature Survey").
    quota: clips likeliest to fill the quota cells still short first (`annotation.crowd
      .quota_scores` over the cell probabilities of `selectors.quota_cell_probabilities` and
      the deficits of `annotation.crowd.quota_deficits`); priority = -score.
    Other policies: no ranking (priority 0). Breadth-first completion of started clips stays first.

    Priorities (lower first) of the open labelling entries: rarest_predicted_first gives
    share of the predicted class - 0.01 x top probability; most_uncertain_first gives -entropy;
    a clip the pre-labeller has not predicted yet gets 10.0 (after the ranked ones). Without a
    pre-labeller every entry gets 0.

    Args:
        project: the project.
    Returns:
        The number of entries written (`annotation.services.pool_set_priorities`).
    """
    config, _ = AnnotationConfig.objects.get_or_create(project=project)
    pre = Prelabeller.objects.filter(project=project).first()
    policy = config.queue_policy
    entries = PoolEntry.objects.filter(project=project, kind="labelling", open=True)
    if pre is None or policy not in RANKED_POLICIES:
        return annotation_services.pool_set_priorities(
            priorities={cid: 0.0 for cid in entries.values_list("clip_id", flat=True)}
        )
    if policy == "quota":
        priorities = _quota_priorities(
            project=project, model_version_id=pre.model_version_id, entries=entries
        )
        unpredicted = set(entries.values_list("clip_id", flat=True)) - set(priorities)
        priorities.update({cid: 10.0 for cid in unpredicted})  # not predicted yet: after the ranked ones
        return annotation_services.pool_set_priorities(priorities=priorities)
    preds = dict(
        (cid, (label, p, e))
        for cid, label, p, e in Prediction.objects.filter(
            model_version=pre.model_version, clip__pool_entries__in=entries
        ).values_list("clip_id", "top_label", "top_probability", "entropy")
    )
    if policy == "most_uncertain_first":
        priorities = {cid: -e for cid, (_, _, e) in preds.items()}
    else:
        counts = Counter(
            ClipConsensus.objects.filter(
                clip__recording__source__project=project, emotion__isnull=False
            ).values_list("emotion__code", flat=True)
        )
        if not counts:
            counts = Counter(
                label
                for label, _, _ in Prediction.objects.filter(model_version=pre.model_version).values_list(
                    "top_label", "top_probability", "entropy"
                )
            )
        total = sum(counts.values()) or 1
        priorities = {cid: counts.get(label, 0) / total - 0.01 * p for cid, (label, p, _) in preds.items()}
    unpredicted = set(entries.values_list("clip_id", flat=True)) - set(priorities)
    priorities.update({cid: 10.0 for cid in unpredicted})  # not predicted yet: after the ranked ones
    return annotation_services.pool_set_priorities(priorities=priorities)


def _quota_priorities(*, project: Project, model_version_id: int, entries) -> dict[int, float]:
    """-score of each predicted open entry under the quota policy (lower first).

    Args:
        project: the project.
        model_version_id: the pre-labeller's model version.
        entries: the open labelling PoolEntry queryset.
    Returns:
        {clip id: -score} for the entries the model has predicted; 0.0 each when the project has
        no quota target.
    """
    targets = list(annotation_selectors.quota_targets(project=project))
    probs = selectors.quota_cell_probabilities(
        project=project, model_version_id=model_version_id, entries=entries, targets=targets
    )
    if not targets:
        return {cid: 0.0 for cid in probs.clip_ids}
    cells = [t.cell for t in targets]
    goal = {t.cell: t.target for t in targets}
    deficits = crowd.quota_deficits(goal, annotation_selectors.quota_counts(project=project))
    scores = crowd.quota_scores(probs.matrix, [goal[c] for c in cells], [deficits[c] for c in cells])
    return {cid: -float(score) for cid, score in zip(probs.clip_ids, scores, strict=True)}


def on_consensus_changed(*, clip_id: int) -> None:
    """Annotation hook (inside the transaction that gives a clip its consensus): re-rank a quota
    queue after commit, so that a cell that fills stops being favoured at once.

    Registered with `annotation.policies.register_consensus_hook`. Does nothing unless the
    clip's project orders its labelling queue by "quota" and has a pre-labeller. The re-rank
    (`inference.tasks.reprioritise_queue`) goes to the `default` queue, not behind training on
    `gpu`: it only reads and writes rows.

    Args:
        clip_id: the clip whose consensus changed.
    """
    project_id = (
        Clip.objects.filter(pk=clip_id).values_list("recording__source__project_id", flat=True).first()
    )
    if project_id is not None:
        on_targets_changed(project_id=project_id)


def on_targets_changed(*, project_id: int) -> None:
    """Annotation hook (inside the transaction that changes quota targets, and called for a new
    consensus): re-rank the project's labelling queue after commit if it is a quota queue.

    Registered with `annotation.policies.register_targets_hook`. Does nothing unless the
    project orders its labelling queue by "quota" and has a pre-labeller.

    Args:
        project_id: the project.
    """
    config = (
        AnnotationConfig.objects.filter(project_id=project_id).values_list("queue_policy", flat=True).first()
    )
    if config != "quota" or not Prelabeller.objects.filter(project_id=project_id).exists():
        return
    from inference.tasks import reprioritise_queue

    transaction.on_commit(lambda: reprioritise_queue.apply_async(args=[project_id], queue="default"))


def handout_suggestion(*, clip_id: int, project: Project, kind: str) -> dict:
    """What the annotator page shows with a clip: the pre-label, only when the project wants it.

    Registered with `annotation.policies.register_handout_extra`.

    Args:
        clip_id: the clip handed out.
        project: its project.
        kind: "labelling" or "validation" (validation never gets a suggestion).
    Returns:
        {"suggestion": {"label", "probabilities" ({label: p}), "model_version" (id)}} when the
        project's pre-labeller is shown to annotators and has predicted the clip; else {}.
    """
    if kind != "labelling":
        return {}
    pre = Prelabeller.objects.filter(project=project, show_to_annotators=True).first()
    if pre is None:
        return {}
    pred = Prediction.objects.filter(model_version_id=pre.model_version_id, clip_id=clip_id).first()
    if pred is None:
        return {}
    return {
        "suggestion": {
            "label": pred.top_label,
            "probabilities": pred.probabilities,
            "model_version": pre.model_version_id,
        }
    }


# --- inference on uploads ------------------------------------------------------------------------


def model_for_inference(*, project: Project, model_version_id: int | None = None) -> ModelVersion:
    """The model that answers an inference request.

    Args:
        project: the project.
        model_version_id: a model version of the project; None: the pre-labeller's model, else
            the project's newest model version.
    Returns:
        The ModelVersion.
    Raises:
        ApplicationError 400 (`invalid`): no such model version in the project, or none trained.
    """
    qs = ModelVersion.objects.filter(project=project)
    if model_version_id:
        mv = qs.filter(pk=model_version_id).first()
        if mv is None:
            raise ApplicationError(f"No model version #{model_version_id} in this project.")
        return mv
    pre = Prelabeller.objects.filter(project=project).select_related("model_version").first()
    mv = pre.model_version if pre else qs.order_by("-created_at", "-id").first()
    if mv is None:
        raise ApplicationError("No trained model yet: train one first (Training runs).")
    return mv


def infer_upload(
    *, upload, project: Project, mode: str = "file", model_version_id: int | None = None
) -> dict:
    """Predict emotions on an uploaded file: segmented by the platform's VAD (mode "file") or as
    one chunk (mode "chunk", the live page). Near-silent audio is answered as silence.

    1. Check the mode and the upload (`corpus.services.upload_check`), and pick the model
       (`model_for_inference`).
    2. Decode to 16 kHz mono (`corpus.audio.decode_to_wav`) in a temporary folder.
    3. Silence: RMS level below TUNISER_SILENCE_DBFS (default -50 dBFS), or (mode "file") no
       speech region under the default `VadParams`. Otherwise predict each region (or the
       whole chunk) in one `predict_proba` call.

    Args:
        upload: a Django UploadedFile (any type TUNISER_ALLOWED_EXTENSIONS allows).
        project: the project whose models may answer.
        mode: "file" or "chunk".
        model_version_id: a model version of the project, or None (see `model_for_inference`).
    Returns:
        {"model_version": {"id", "name", "family"}, "labels", "duration_s" (seconds),
        "silence": bool, "segments": [{"start", "end" (seconds, 3 places), "label",
        "probabilities" ({label: p}, 4 places)}], "rms_dbfs" (1 place), "latency_ms"}.
    Raises:
        ApplicationError 400 (`invalid`): an unknown mode, model version, or no model.
        IngestRejected: 400 `unsupported_type` / `empty`, 413 `too_large`.
        ApplicationError 422 (`undecodable`): the file does not decode (AudioError's message).
        ApplicationError 413 (`too_long`): longer than TUNISER_INFERENCE_MAX_S seconds.
        FileNotFoundError, ValueError: the model cannot be loaded (`predictor_for`).
    """
    started = time.perf_counter()
    conf = settings.TUNISER
    if mode not in ("file", "chunk"):
        raise ApplicationError("mode must be 'file' or 'chunk'.")
    corpus_services.upload_check(name=upload.name, size=upload.size)  # IngestRejected: 400/413
    mv = model_for_inference(project=project, model_version_id=model_version_id)
    with tempfile.TemporaryDirectory(prefix="tuniser-infer-") as tmp:
        src = Path(tmp) / f"upload{Path(upload.name).suffix.lower()}"
        with open(src, "wb") as fh:
            for chunk in upload.chunks():
                fh.write(chunk)
        try:
            decoded = audio.decode_to_wav(src, Path(tmp) / "a.wav", timeout_s=conf["DECODE_TIMEOUT_S"])
            duration = decoded.duration_s
        except audio.AudioError as exc:
            raise ApplicationError(str(exc), code="undecodable", status=422) from exc
        if duration > conf["INFERENCE_MAX_S"]:
            raise ApplicationError(
                f"The audio lasts {duration:.0f} s; the inference API takes at most "
                f"{conf['INFERENCE_MAX_S']:.0f} s "
                "(ingest long recordings instead).",
                code="too_long",
                status=413,
            )
        samples, _ = sf.read(Path(tmp) / "a.wav", dtype="float32")
    predictor = predictor_for(mv)
    rms_dbfs = 20 * math.log10(max(float(np.sqrt(np.mean(samples**2))) if len(samples) else 0.0, 1e-9))
    answer = {
        "model_version": {"id": mv.pk, "name": mv.name, "family": mv.family},
        "labels": list(predictor.labels),
        "duration_s": round(duration, 3),
        "silence": False,
        "segments": [],
        "rms_dbfs": round(rms_dbfs, 1),
    }
    if rms_dbfs < conf["SILENCE_DBFS"]:
        answer["silence"] = True
    else:
        if mode == "chunk":
            spans = [(0.0, duration)]
        else:
            regions = vad.analyse(samples, SAMPLE_RATE).detect_regions(vad.VadParams())
            spans = [(r.start, r.end) for r in regions]
        if spans:
            clips = [samples[int(a * SAMPLE_RATE) : int(b * SAMPLE_RATE)] for a, b in spans]
            proba = predictor.predict_proba(clips)
            for (a, b), p in zip(spans, proba, strict=True):
                answer["segments"].append(
                    {
                        "start": round(a, 3),
                        "end": round(b, 3),
                        "label": predictor.labels[int(p.argmax())],
                        "probabilities": {
                            label: round(float(v), 4) for label, v in zip(predictor.labels, p, strict=True)
                        },
                    }
                )
        else:
            answer["silence"] = True
    answer["latency_ms"] = round((time.perf_counter() - started) * 1000, 1)
    return answer


def prelabel_quality(*, project: Project, include_gold: bool = False) -> list[dict]:
    """How often each model's top label matches the consensus, overall and per consensus class,
    on clips the model did not learn from.

    1. The eligible clips of a model: clips of the project with a usable consensus
       (`ClipConsensus.usable_q`: agreed, adjudicated or gold), not rejected or excluded, minus
       the clips the model was trained or validated on
       (`training.selectors.model_version_seen_clip_ids`), minus gold imports (clips with a
       `releases.GoldLabel`) unless `include_gold`.
    2. Its compared clips: the eligible clips it has predicted. Agreement = share of compared
       clips whose top label equals the consensus emotion.
    3. Exclusions are counted among the clips with a usable consensus: seen in training first,
       then gold (a gold clip that was also in training counts as seen only).
    4. While a PrelabelJob of the model is queued or running, the figures are partial:
       `n_compared` of `n_eligible` clips are predicted so far.

    Args:
        project: the project.
        include_gold: count gold imports too (they are left out by default: an imported corpus is
            what models are trained on, and its actors are not the project's speech).
    Returns:
        One dict per model version of the project, newest first: {"id", "name", "n_compared",
        "agreement" (share of matches, 4 places, None when nothing was compared), "per_class":
        {consensus emotion code: {"n", "agreement"}}, "n_eligible", "n_excluded_seen",
        "n_excluded_gold" (0 when `include_gold`), "include_gold", "partial" (bool), "job"
        (the newest active PrelabelJob as {"id", "status", "progress"}, or None)}.
    """
    out = []
    usable = ClipConsensus.usable_q(prefix="consensus__")
    with_consensus = set(
        Clip.objects.filter(usable, recording__source__project=project)
        .exclude(status__in=[Clip.Status.REJECTED, Clip.Status.EXCLUDED])
        .values_list("pk", flat=True)
    )
    gold = (
        set(
            GoldLabel.objects.filter(clip__recording__source__project=project).values_list(
                "clip_id", flat=True
            )
        )
        & with_consensus
    )
    active_jobs = {}
    for job in PrelabelJob.objects.filter(project=project, status__in=[JobStatus.QUEUED, JobStatus.RUNNING]):
        active_jobs.setdefault(job.model_version_id, job)  # newest first (the model's ordering)
    for mv in ModelVersion.objects.filter(project=project).order_by("-created_at", "-id"):
        seen = with_consensus & training_selectors.model_version_seen_clip_ids(mv)
        excluded_gold = set() if include_gold else (gold - seen)
        eligible = with_consensus - seen - excluded_gold
        # Filtered here, not in SQL: an IN list of every eligible clip outgrows SQLite's limits.
        rows = Prediction.objects.filter(model_version=mv).values_list(
            "clip_id", "top_label", "clip__consensus__emotion__code"
        )
        per: dict[str, list[int]] = {}
        for clip_id, predicted, truth in rows.iterator(chunk_size=20000):
            if clip_id in eligible:
                per.setdefault(truth, []).append(int(predicted == truth))
        n = sum(len(v) for v in per.values())
        job = active_jobs.get(mv.pk)
        out.append(
            {
                "id": mv.pk,
                "name": mv.name,
                "n_compared": n,
                "agreement": round(sum(sum(v) for v in per.values()) / n, 4) if n else None,
                "per_class": {
                    k: {"n": len(v), "agreement": round(sum(v) / len(v), 4)} for k, v in sorted(per.items())
                },
                "n_eligible": len(eligible),
                "n_excluded_seen": len(seen),
                "n_excluded_gold": len(excluded_gold),
                "include_gold": include_gold,
                "partial": job is not None,
                "job": {"id": job.pk, "status": job.status, "progress": job.progress} if job else None,
            }
        )
    return out
