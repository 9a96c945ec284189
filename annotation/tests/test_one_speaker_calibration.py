"""Validators' "more than one speaker" rejections calibrate the speaker step's one-voice confidence."""

from __future__ import annotations

import pytest
from django.test import Client

from annotation.models import RejectionReason, ValidationVote
from annotation.selectors import one_speaker_calibration
from annotation.tests.factories import clone_clips
from corpus import services
from corpus.models import Clip
from corpus.tests import media_files as mf


@pytest.fixture
def recording(project, tmp_path, data_dir):
    source = services.source_get_or_create(project=project, title="Nsibti", episode="E01")
    samples, rate = mf.ravdess_speech(data_dir, n=1)
    wav = mf.write_wav(tmp_path / "e01.wav", samples, rate)
    rec = services.recording_ingest(source=source, path=wav, segment=False).recording
    services.clip_create_whole(recording=rec)
    return rec


@pytest.mark.django_db
def test_rejections_for_two_voices_suggest_a_threshold(recording, curator, project):
    reason = RejectionReason.objects.get(code="multiple_speakers")
    noise = (
        RejectionReason.objects.get(code="noise")
        if RejectionReason.objects.filter(code="noise").exists()
        else None
    )
    ids = clone_clips(recording, 16, status=Clip.Status.AWAITING_VALIDATION)
    # 6 clips rejected for two voices (confidence 0.2-0.45), 8 accepted (0.5-0.95), one of them
    # low (0.3: a false alarm at any threshold above it); 2 rejected for noise, never counted.
    confs = [0.2, 0.25, 0.3, 0.35, 0.4, 0.45] + [0.3, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95] + [0.1, 0.15]
    for k, (pk, conf) in enumerate(zip(ids, confs, strict=True)):
        accept = 6 <= k < 14
        Clip.objects.filter(pk=pk).update(
            one_speaker_conf=conf, status=Clip.Status.ACCEPTED if accept else Clip.Status.REJECTED
        )
        vote = ValidationVote.objects.create(clip_id=pk, validator=curator, accept=accept)
        if k < 6:
            vote.reasons.add(reason)
        elif k >= 14 and noise:
            vote.reasons.add(noise)
    c = one_speaker_calibration(project=project)
    assert (c.n_multi, c.n_accepted) == (6, 8)
    assert c.auc == pytest.approx(1 - 3.5 / 48, abs=1e-3)  # one good clip ties/beats 3.5 of 6x8 pairs
    assert c.threshold == pytest.approx(0.45) and c.caught == 1.0 and c.false_alarms == pytest.approx(1 / 8)

    client = Client()
    client.force_login(curator)
    page = client.get("/curation/rejected/").content.decode()
    assert "ROC AUC of <strong>0.927</strong>" in page and "<strong data-threshold>0.45</strong>" in page


@pytest.mark.django_db
def test_too_few_verdicts_suggest_nothing(recording, project):
    c = one_speaker_calibration(project=project)
    assert (c.n_multi, c.n_accepted, c.auc, c.threshold) == (0, 0, None, None)
