"""Factories for annotation tests that need many clips fast (rows over one real recording)."""

from __future__ import annotations

from django.db import transaction
from django.test import TestCase

from annotation import consensus, services
from annotation.guideline import ensure_guideline
from annotation.models import LabelOption, PoolEntry
from conftest import _user
from core.models import Project
from corpus import services as corpus_services
from corpus.models import Clip, Recording
from corpus.tests import media_files as mf


def clone_clips(
    recording: Recording, n: int, *, status: str = Clip.Status.ACCEPTED, start: float = 1000.0
) -> list[int]:
    """`n` clips over `recording`'s first real clip audio (distinct spans from `start` seconds on,
    2 s apart, same WAV), in the pool that matches `status`. Call again with a later `start`
    (start + 2 n or more) for more clips with higher ids."""
    template = recording.clips.order_by("start_s").first()
    clips = [
        Clip(
            recording=recording,
            start_s=start + 2 * i,
            end_s=start + 2 * i + template.duration_s,
            duration_s=template.duration_s,
            audio=template.audio.name,
            level_dbfs=template.level_dbfs,
            speech_ratio=template.speech_ratio,
            clipping_ratio=template.clipping_ratio,
            snr_db=template.snr_db,
            status=status,
        )
        for i in range(n)
    ]
    Clip.objects.bulk_create(clips, batch_size=1000)
    ids = list(
        recording.clips.filter(start_s__gte=start, start_s__lt=start + 2 * n).values_list("pk", flat=True)
    )
    kind = services.LABELLING if status == Clip.Status.ACCEPTED else services.VALIDATION
    services.pool_add_clips(clip_ids=ids, kind=kind)
    return ids


def ingest_segmented(source, path):
    """Ingest `path` into `source` and segment it now: the segmentation is queued after commit,
    and its callback runs at once even inside a test's transaction (rolled back or not)."""
    with TestCase.captureOnCommitCallbacks(execute=True):
        with transaction.atomic():
            rec = corpus_services.recording_ingest(source=source, path=path).recording
    rec.refresh_from_db()
    return rec


def _recording(project, tmp_path, data_dir, name: str):
    samples, rate = mf.ravdess_speech(data_dir, n=1)
    source = corpus_services.source_get_or_create(project=project, title=f"Checks {name}")
    return ingest_segmented(source, mf.write_wav(tmp_path / f"{name}.wav", samples, rate))


def _make_gold(clip_ids, emotion: str = "angry") -> None:
    """Turn pool clips into imported-gold-like clips: labelled, a gold consensus, out of the pool."""
    option = LabelOption.objects.get(kind="emotion", code=emotion)
    PoolEntry.objects.filter(clip_id__in=clip_ids).delete()
    Clip.objects.filter(pk__in=clip_ids).update(status=Clip.Status.LABELLED)
    for clip_id in clip_ids:
        consensus.consensus_set_gold(clip_id=clip_id, emotion=option, gender=None)


def gold_check_world(project, django_user_model, tmp_path, data_dir, *, n_pool: int = 8, n_checks: int = 4):
    """Hidden-check test data through the real services. Project A: `n_pool` clips in the
    labelling pool, `n_checks` gold clips a curator marked as checks
    ("angry"); three annotators and a curator. Project B ("other"): a pool clip, a gold check and
    its curator. Works in a test's transaction (the segmentation's on-commit callback runs at once).

    Returns:
        {"project", "pool" (clip ids), "checks" (clip ids), "curator", "annotators" (3 users),
        "other", "pool_b", "check_b", "curator_b"}.
    """
    ensure_guideline()
    rec = _recording(project, tmp_path, data_dir, "a")
    ids = sorted(clone_clips(rec, n_pool + n_checks))
    pool, checks = ids[:n_pool], ids[n_pool:]
    _make_gold(checks)
    curator = _user(django_user_model, "cur", "curator", project=project)
    for clip_id in checks:
        services.gold_check_mark(curator=curator, clip_id=clip_id)
    annotators = [
        _user(django_user_model, n, "annotator", project=project) for n in ("amel", "bilel", "chiraz")
    ]

    other = Project.objects.create(name="Other", slug="other")
    rec_b = _recording(other, tmp_path, data_dir, "b")
    ids_b = sorted(clone_clips(rec_b, 2))
    _make_gold(ids_b[1:])
    curator_b = _user(django_user_model, "cur-b", "curator", project=other)
    services.gold_check_mark(curator=curator_b, clip_id=ids_b[1])
    return {
        "project": project,
        "pool": pool,
        "checks": checks,
        "curator": curator,
        "annotators": annotators,
        "other": other,
        "pool_b": ids_b[:1],
        "check_b": ids_b[1],
        "curator_b": curator_b,
    }
