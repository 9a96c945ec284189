"""30 annotators at once: every clip ends with K labels from K distinct annotators, or more, up
to the maximum, exactly where its labels disagreed (dynamic overlap, the default).

Runs on both databases: on PostgreSQL the hand-out uses FOR UPDATE SKIP LOCKED; on SQLite the
IMMEDIATE transactions serialise writers.
"""

from __future__ import annotations

import threading
from collections import Counter

import pytest
from django.contrib.auth.models import Group
from django.db import connection, connections, transaction

from annotation import crowd, services
from annotation.guideline import ensure_guideline
from annotation.models import Annotation, Assignment, PoolEntry
from annotation.tests.factories import clone_clips
from corpus import services as corpus_services
from corpus.models import Clip
from corpus.tests import media_files as mf

N_ANNOTATORS = 30
N_CLIPS = 60
K = 3
MAX = 5  # AnnotationConfig.max_labels_per_clip's default


@pytest.mark.django_db(transaction=True)
def test_thirty_annotators_drain_the_pool_without_double_assignment(
    project, django_user_model, tmp_path, data_dir
):
    ensure_guideline()
    samples, rate = mf.ravdess_speech(data_dir, n=1)
    source = corpus_services.source_get_or_create(project=project, title="Concurrency")
    with transaction.atomic():
        rec = corpus_services.recording_ingest(
            source=source, path=mf.write_wav(tmp_path / "a.wav", samples, rate)
        ).recording
    clip_ids = set(clone_clips(rec, N_CLIPS))
    group = Group.objects.get_or_create(name="annotator")[0]
    users = []
    for i in range(N_ANNOTATORS):
        user = django_user_model.objects.create_user(username=f"t{i:02d}", password="x")
        user.groups.add(group)
        project.members.add(user)
        users.append(user)
    emotions = ["happy", "sad", "angry", "neutral", "fear", "disgust", "surprise"]
    errors: list[BaseException] = []
    handed: Counter = Counter()
    lock = threading.Lock()
    start = threading.Barrier(N_ANNOTATORS)

    def work(i: int, user) -> None:
        try:
            start.wait()
            for _ in range(N_CLIPS):  # bounded: no annotator can label more clips than exist
                handout = services.assignment_next(user=user, project=project, kind=services.LABELLING)
                if handout is None:
                    return
                clip_id = handout.assignment.clip_id
                with lock:
                    handed[(user.pk, clip_id)] += 1
                services.annotation_submit(user=user, clip_id=clip_id, emotion=emotions[i % 7], gender="male")
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=work, args=(i, u)) for i, u in enumerate(users)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=240)
    assert not any(t.is_alive() for t in threads), "an annotator thread hung"
    assert not errors, errors[:3]
    # A thread stops at its first empty hand-out, and an escalation may reopen a clip after
    # that: whoever is left finishes the escalated clips, one after the other.
    while True:
        served = 0
        for i, user in enumerate(users):
            handout = services.assignment_next(user=user, project=project, kind=services.LABELLING)
            if handout is not None:
                served += 1
                handed[(user.pk, handout.assignment.clip_id)] += 1
                services.annotation_submit(
                    user=user, clip_id=handout.assignment.clip_id, emotion=emotions[i % 7], gender="male"
                )
        if not served:
            break

    per_clip = Counter(Annotation.objects.filter(clip_id__in=clip_ids).values_list("clip_id", flat=True))
    assert set(per_clip) == clip_ids and set(per_clip.values()) <= set(range(K, MAX + 1))
    assert any(n > K for n in per_clip.values()), "7 emotions spread evenly: some clips must escalate"
    config = services.config_for(project)
    for clip_id, n in per_clip.items():
        # Each clip got one label more exactly while its labels so far had no majority.
        emotions_given = list(
            Annotation.objects.filter(clip_id=clip_id).order_by("pk").values_list("emotion_id", flat=True)
        )
        for m in range(K, n + 1):
            wanted_more = crowd.needs_more_raters(
                list(Counter(emotions_given[:m]).values()),
                min_votes=config.consensus_min_votes,
                max_raters=MAX,
            )
            assert wanted_more == (m < n), (clip_id, m, n)
        assert PoolEntry.objects.get(kind="labelling", clip_id=clip_id).escalated == (n > K)
    pairs = Annotation.objects.values_list("clip_id", "annotator_id")
    assert len(set(pairs)) == len(pairs), "an annotator labelled a clip twice"
    assert max(handed.values()) == 1, "a clip was handed to the same annotator twice"
    assert Clip.objects.filter(pk__in=clip_ids, status="labelled").count() == N_CLIPS
    assert not Assignment.objects.filter(state="live").exists()
    assert not PoolEntry.objects.filter(kind="labelling", open=True).exists()
    assert connection.vendor in ("postgresql", "sqlite")
