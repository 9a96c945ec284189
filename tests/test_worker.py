"""A real Celery worker process on the real broker (embedded Redis, or the server in CI pass 2)."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from conftest import wait_for
from core.access import project_get_default
from corpus.models import Recording, SegmentationRun
from corpus.tests import media_files as mf


@pytest.mark.worker
def test_upload_is_segmented_by_a_real_worker_through_the_broker(
    celery_worker_process, curator, data_dir, tmp_path
):
    samples, rate = mf.ravdess_speech(data_dir, n=4)
    mp3 = mf.transcode(mf.write_wav(tmp_path / "ep.wav", samples, rate), tmp_path / "ep.mp3")
    client = APIClient()
    client.force_authenticate(curator)

    with open(mp3, "rb") as fh:
        response = client.post(
            "/api/recordings/", {"file": fh, "source_title": "Dar Lekhlifa"}, format="multipart"
        )

    assert response.status_code == 201, response.json()
    # Not eager: the API answers at once, with the job queued (or just taken) by the worker.
    assert response.json()["segmentation_run"]["status"] in ("queued", "running")
    run_id = response.json()["segmentation_run"]["id"]
    run = wait_for(
        lambda: SegmentationRun.objects.filter(pk=run_id, status__in=["succeeded", "failed"]).first(),
        timeout=90,
        message="the worker to finish the segmentation",
    )
    assert run.status == "succeeded", run.traceback
    rec = Recording.objects.get(pk=response.json()["id"])
    assert rec.status == "segmented" and rec.clips.count() == run.n_clips_created >= 4
    log = celery_worker_process.log_path.read_text()
    assert "corpus.tasks.segment_recording[" in log and "succeeded" in log


@pytest.mark.worker
def test_a_message_delivered_twice_is_executed_once(celery_worker_process, curator, data_dir, tmp_path):
    from corpus import services
    from corpus.tasks import segment_recording

    samples, rate = mf.ravdess_speech(data_dir, n=2)
    source = services.source_get_or_create(project=project_get_default(), title="Twice")
    rec = services.recording_ingest(
        source=source, path=mf.write_wav(tmp_path / "a.wav", samples, rate), segment=False
    ).recording
    run = services.segmentation_run_create(recording=rec, enqueue=False)

    segment_recording.delay(run.pk)
    segment_recording.delay(run.pk)

    wait_for(
        lambda: SegmentationRun.objects.filter(pk=run.pk, status="succeeded").exists(),
        timeout=90,
        message="the run",
    )
    wait_for(
        lambda: celery_worker_process.log_path.read_text().count("segment_recording[") >= 4,
        timeout=30,
        message="both messages to be handled",
    )
    log = celery_worker_process.log_path.read_text()
    assert "is not queued (already taken or finished); skipping" in log
    first_ids = sorted(rec.clips.values_list("pk", flat=True))
    assert len(first_ids) == SegmentationRun.objects.get(pk=run.pk).n_clips_created
