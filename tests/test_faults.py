"""Jobs finish with nobody acting when their worker or their message is lost (core.jobs).

The fault tests run a real Celery worker and Celery beat (which sends the job sweep) on the real
broker, with short job timings passed through their environment (FAST), and inject real faults:
SIGKILL of the worker's child process (prefork, one child: the parent lives on and redelivers)
during segmentation, export, training and pre-labelling; SIGKILL of the whole worker, then a new
one; a broker restart with jobs queued (on a shared Redis server, whose restart is not ours to
do, the queues are emptied instead: the same loss as seen by the platform). Each test asserts
every job's end within a bounded time, and that nothing was done twice: no duplicate clips,
archives or predictions, one model version, training resumed from its checkpoint.

A stored file replaced by a named pipe (`_Held`) stands for a slow read: the worker blocks on it
while the job runs, so the kill lands inside the job every time; the real file is put back right
after the kill.

The sweep itself (stale row taken back, give-up at the cap, lost message re-sent) and the
heartbeat are also tested directly, without a worker.
"""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import time
import zipfile
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.utils import timezone
from redis import Redis

from annotation.guideline import ensure_guideline
from conftest import wait_for
from core import jobs
from core.access import project_get_default
from corpus import services as corpus_services
from corpus.models import Clip, Recording, SegmentationRun
from corpus.tests import media_files as mf
from inference import services as inference_services
from inference.models import Prediction, PrelabelJob
from releases.build import ReleaseParams, release_build
from releases.export import release_export_create
from releases.importers import label_mappings_ensure
from releases.models import ReleaseExport
from training import services as training_services
from training.models import ModelVersion, TrainingRun

# Beat every 0.5 s, stale after 4 s, a sweep every second: a lost job is taken back in ~5 s. One
# math thread: a tiny model trains several times faster on a busy 2-core machine.
FAST = {
    "TUNISER_JOB_HEARTBEAT_S": "0.5",
    "TUNISER_JOB_STALE_AFTER_S": "4",
    "TUNISER_JOB_SWEEP_EVERY_S": "1",
    "OMP_NUM_THREADS": "1",
}
# Every job below ends within this many seconds of its fault (measured: 5 to 25 s on a busy
# 2-core machine).
BOUND_S = 90
FINISHED = ("succeeded", "failed", "cancelled")
TINY_LSTM = {
    "epochs": 3,  # killed after the first: two epochs of margin for the kill to land in time
    "patience": 10,
    "batch_size": 32,
    "hidden": 16,
    "num_layers": 1,
    "n_mfcc": 20,
    "head_hidden": 16,
    "progress_every": 2,
}


class _Held:
    """A stored file replaced by a named pipe: a worker that opens it blocks until the test lets
    go. `wait_for_reader()` returns once a worker holds it open (the job is inside its work);
    `restore()` puts the real file back (call it after the kill, so the dead reader never sees
    the end of the pipe)."""

    def __init__(self, name: str):
        self.path = Path(default_storage.path(name))
        self.data = self.path.read_bytes()
        self.path.unlink()
        os.mkfifo(self.path)
        self.fds: list[int] = []

    def wait_for_reader(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                # Opening a pipe's write end without blocking works only while a reader has it open.
                self.fds.append(os.open(self.path, os.O_WRONLY | os.O_NONBLOCK))
                return
            except OSError as exc:
                if exc.errno != errno.ENXIO or time.monotonic() > deadline:
                    raise
                time.sleep(0.02)

    def close_writers(self) -> None:
        for fd in self.fds:
            os.close(fd)
        self.fds.clear()

    def restore(self) -> None:
        if self.path.is_fifo():
            tmp = self.path.with_name(self.path.name + ".restore")
            tmp.write_bytes(self.data)
            os.replace(tmp, self.path)
        self.close_writers()


def _kill_child(worker: subprocess.Popen) -> int:
    """SIGKILL the one pool process of a prefork worker (its parent lives on), and wait until its
    parent has reaped it: only then have all its threads exited and its files closed (a zombie's
    other threads may still hold them)."""
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(worker.pid)], capture_output=True, text=True)
    children = [int(pid) for pid in out.stdout.split()]
    assert len(children) == 1, children
    os.kill(children[0], signal.SIGKILL)
    wait_for(lambda: not Path(f"/proc/{children[0]}").exists(), timeout=10, interval=0.02, message="the reap")
    return children[0]


def _finished(model, pk: int, *, timeout: float = BOUND_S):
    return wait_for(
        lambda: model.objects.filter(pk=pk, status__in=FINISHED).first(),
        timeout=timeout,
        message=f"{model.__name__} {pk} to finish",
    )


def _recording(data_dir: Path, tmp_path: Path, title: str, *, n: int = 4, offset: int = 0) -> Recording:
    samples, rate = mf.ravdess_speech(data_dir, n=n, offset=offset)
    source = corpus_services.source_get_or_create(project=project_get_default(), title=title)
    wav = mf.write_wav(tmp_path / f"{title}.wav", samples, rate)
    return corpus_services.recording_ingest(source=source, path=wav, segment=False).recording


def _assert_clips_once(run: SegmentationRun) -> None:
    """The run's clips, each once, and no file left by a killed attempt."""
    clips = list(Clip.objects.filter(recording=run.recording_id))
    assert len(clips) == run.n_clips_created >= 1
    assert len({(c.start_s, c.end_s) for c in clips}) == len(clips)
    _, files = default_storage.listdir(f"clips/{run.recording_id}/run{run.pk}")
    assert sorted(files) == sorted(Path(c.audio.name).name for c in clips)


def _log(proc: subprocess.Popen) -> str:
    return proc.log_path.read_text(errors="replace")


def _redis(url: str) -> Redis:
    if url.startswith("redis+socket://"):
        return Redis(unix_socket_path=url.removeprefix("redis+socket://"))
    return Redis.from_url(url)


# --- the sweep and the heartbeat, without a worker --------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_sweep_takes_back_a_stale_job_and_gives_up_at_the_cap(data_dir, tmp_path, settings):
    settings.TUNISER = {**settings.TUNISER, "JOB_MAX_ATTEMPTS": 3}
    stale = timezone.now() - 2 * SegmentationRun.stale_limit()
    runs = {}
    cases = [("dead", stale, 1), ("hopeless", stale, 3), ("alive", timezone.now(), 1)]
    for i, (name, heartbeat, attempts) in enumerate(cases):
        rec = _recording(data_dir, tmp_path, name, n=2, offset=2 * i)  # distinct audio: no duplicate
        run = corpus_services.segmentation_run_create(recording=rec, enqueue=False)
        SegmentationRun.objects.filter(pk=run.pk).update(
            status="running", heartbeat_at=heartbeat, attempts=attempts
        )
        Recording.objects.filter(pk=rec.pk).update(status=Recording.Status.SEGMENTING)
        runs[name] = run.pk

    report = jobs.jobs_sweep()  # eager Celery: the run taken back is executed at once

    assert (report.given_up, report.requeued, report.resent) == (1, 1, 0)
    dead = SegmentationRun.objects.get(pk=runs["dead"])
    assert dead.status == "succeeded" and dead.attempts == 2
    _assert_clips_once(dead)
    hopeless = SegmentationRun.objects.get(pk=runs["hopeless"])
    assert hopeless.status == "failed" and hopeless.error == "Worker lost during attempt 3 of 3; giving up."
    assert hopeless.recording.status == Recording.Status.FAILED  # not left "segmenting"
    assert SegmentationRun.objects.get(pk=runs["alive"]).status == "running"  # a live worker's job
    assert jobs.jobs_sweep() == jobs.SweepReport()  # nothing left to do


@pytest.mark.django_db(transaction=True)
def test_a_redelivered_message_gives_up_a_job_whose_worker_was_lost_at_the_cap(data_dir, tmp_path):
    rec = _recording(data_dir, tmp_path, "cap", n=2)
    run = corpus_services.segmentation_run_create(recording=rec, enqueue=False)
    cap = SegmentationRun.max_attempts()
    SegmentationRun.objects.filter(pk=run.pk).update(status="running", heartbeat_at=None, attempts=cap)

    assert corpus_services.segmentation_run_execute(run_id=run.pk) is False

    run.refresh_from_db()
    assert run.status == "failed" and run.error == f"Worker lost during attempt {cap} of {cap}; giving up."
    assert not Clip.objects.filter(recording=rec).exists()


def test_the_sweep_resends_a_queued_job_whose_message_the_broker_lost(
    worker_factory, broker_url, data_dir, tmp_path
):
    # worker_factory without a worker: the real broker, tasks sent, nothing consumes them.
    rec = _recording(data_dir, tmp_path, "lost", n=2)
    run = corpus_services.segmentation_run_create(recording=rec)
    SegmentationRun.objects.filter(pk=run.pk).update(created_at=timezone.now() - timedelta(hours=1))
    broker = _redis(broker_url)
    assert broker.llen("audio") == 1

    assert jobs.jobs_sweep().resent == 0  # its message waits in the queue
    broker.delete("audio")  # the broker lost it
    assert jobs.jobs_sweep().resent == 1
    assert jobs.jobs_sweep().resent == 0
    assert broker.llen("audio") == 1
    assert SegmentationRun.objects.get(pk=run.pk).status == "queued"


@pytest.mark.django_db(transaction=True)
def test_a_running_job_beats_while_its_work_says_nothing(data_dir, tmp_path, settings):
    settings.TUNISER = {**settings.TUNISER, "JOB_HEARTBEAT_S": 0.2, "JOB_STALE_AFTER_S": 1.0}
    rec = _recording(data_dir, tmp_path, "quiet", n=1)
    run = corpus_services.segmentation_run_create(recording=rec, enqueue=False)
    seen = []

    def silent_work(row, progress):
        for _ in range(3):  # 1.8 s without a progress call: longer than stale_limit()
            time.sleep(0.6)
            seen.append(SegmentationRun.objects.filter(SegmentationRun.stale_q(), pk=row.pk).exists())
        return {}

    assert jobs.job_execute(SegmentationRun, run.pk, silent_work) is True

    assert seen == [False, False, False]
    run.refresh_from_db()
    assert run.status == "succeeded" and run.attempts == 1


# --- faults with a real worker ------------------------------------------------------------------


@pytest.mark.worker
def test_a_child_killed_during_segmentation_is_recovered_and_one_killed_at_every_attempt_given_up(
    worker_factory, data_dir, tmp_path
):
    worker = worker_factory(pool="prefork", TUNISER_JOB_MAX_ATTEMPTS="2", **FAST)
    worker_factory(beat=True, **FAST)

    # Killed once: the redelivered message (or the sweep) runs it again.
    rec = _recording(data_dir, tmp_path, "once", n=4)
    held = _Held(rec.normalised.name)
    try:
        run = corpus_services.segmentation_run_create(recording=rec)
        held.wait_for_reader()
        _kill_child(worker)
    finally:
        held.restore()
    run = _finished(SegmentationRun, run.pk)
    assert run.status == "succeeded" and run.attempts == 2, run.error
    _assert_clips_once(run)

    # Killed at both allowed attempts: failed with the reason, and the recording usable again.
    rec = _recording(data_dir, tmp_path, "always", n=4, offset=4)
    held = _Held(rec.normalised.name)
    try:
        run = corpus_services.segmentation_run_create(recording=rec)
        for _ in range(2):
            held.wait_for_reader()
            _kill_child(worker)
            held.close_writers()  # the pipe stays: the next attempt blocks on it too
    finally:
        held.restore()
    run = _finished(SegmentationRun, run.pk)
    assert run.status == "failed" and run.error == "Worker lost during attempt 2 of 2; giving up."
    assert Recording.objects.get(pk=rec.pk).status == Recording.Status.FAILED
    assert not Clip.objects.filter(recording=rec).exists()
    again = corpus_services.segmentation_run_create(recording=rec)  # not blocked by the dead run
    assert _finished(SegmentationRun, again.pk).status == "succeeded"
    assert "running elsewhere; retrying in" in _log(worker)  # the redelivered message waited


@pytest.fixture
def small_release(tmp_path, data_dir, project):
    """Angry vs neutral from six RAVDESS actors, speakers held out (about 100 items)."""
    ensure_guideline()
    label_mappings_ensure()
    folder = tmp_path / "ravdess"
    folder.mkdir()
    for f in sorted((data_dir / "ravdess").glob("03-01-0[125]-*.flac")):
        if int(f.stem[-2:]) <= 6:
            (folder / f.name).symlink_to(f)
    call_command("import_corpus", str(folder), "--format", "ravdess", "--no-progress")
    params = ReleaseParams(name="faults", label_set=["angry", "neutral"], group_by="speaker", seed=1)
    return release_build(project=project, params=params)


@pytest.mark.worker
def test_a_child_killed_during_an_export_then_training_then_pre_labelling(
    worker_factory, small_release, project
):
    worker = worker_factory(pool="prefork", **FAST)
    worker_factory(beat=True, **FAST)

    # 1. Export: killed with half the archive written; one archive in the end, whole.
    items = list(small_release.items.select_related("clip").order_by("pk"))
    held = _Held(items[len(items) // 2].clip.audio.name)
    try:
        export = release_export_create(release=small_release)
        held.wait_for_reader()
        _kill_child(worker)
    finally:
        held.restore()
    export = _finished(ReleaseExport, export.pk)
    assert export.status == "succeeded" and export.attempts == 2, export.error
    folder = Path(default_storage.path(export.archive.name)).parent
    assert [p.name for p in folder.iterdir()] == [Path(export.archive.name).name]  # no partial, no copy
    with zipfile.ZipFile(default_storage.path(export.archive.name)) as zf:
        wavs = [n for n in zf.namelist() if n.endswith(".wav")]
        assert zf.testzip() is None
    assert len(wavs) == len(set(wavs)) == len(items)

    # 2. Training: killed after its first epoch; resumed from that epoch's checkpoint.
    run = training_services.run_create(
        release=small_release, family="mfcc_lstm", hparams=TINY_LSTM, device="cpu"
    )
    wait_for(lambda: len(TrainingRun.objects.get(pk=run.pk).history) >= 1, timeout=120, message="an epoch")
    _kill_child(worker)
    killed_at = len(TrainingRun.objects.get(pk=run.pk).history)
    run = _finished(TrainingRun, run.pk, timeout=BOUND_S + 60)
    assert run.status == "succeeded" and run.attempts == 2, run.traceback
    assert killed_at < TINY_LSTM["epochs"], "the kill came after the last epoch: nothing to resume"
    assert run.resumed_from_epoch is not None and run.resumed_from_epoch >= killed_at >= 1
    assert len(run.history) == TINY_LSTM["epochs"]
    model_version = ModelVersion.objects.get(run=run)

    # 3. Pre-labelling with the model just trained: killed mid-batch; one prediction per clip.
    clips = Clip.objects.filter(recording__source__project=project).order_by("pk")
    held = _Held(clips[clips.count() // 2].audio.name)
    try:
        job = inference_services.prelabel_job_create(project=project, model_version=model_version)
        held.wait_for_reader()
        _kill_child(worker)
    finally:
        held.restore()
    job = _finished(PrelabelJob, job.pk)
    assert job.status == "succeeded" and job.attempts == 2, job.error
    predicted = Prediction.objects.filter(model_version=model_version)
    assert predicted.count() == predicted.values("clip").distinct().count() == clips.count() == job.n_done


@pytest.mark.worker
def test_a_killed_worker_then_a_new_one_finishes_the_job_without_the_visibility_timeout(
    worker_factory, data_dir, tmp_path
):
    first = worker_factory(**FAST)  # solo: the job runs in the worker process itself
    worker_factory(beat=True, **FAST)
    rec = _recording(data_dir, tmp_path, "whole", n=4)
    held = _Held(rec.normalised.name)
    try:
        run = corpus_services.segmentation_run_create(recording=rec)
        held.wait_for_reader()
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
    finally:
        held.restore()
    # Its message is held by the dead worker until the broker's visibility timeout (12 h).
    second = worker_factory(**FAST)

    run = _finished(SegmentationRun, run.pk)

    assert run.status == "succeeded" and run.attempts == 2, run.error
    _assert_clips_once(run)
    assert "lost its worker; queued again" in _log(second)


def _restart_broker(embedded_broker, url: str) -> None:
    """Restart the embedded Redis on its socket (its queues die with it); on a shared server,
    empty this database's queues and reserved messages: the same loss, seen from the platform."""
    if embedded_broker is not None:
        embedded_broker.stop()
        embedded_broker.start()
    else:
        _redis(url).delete("default", "audio", "gpu", "unacked", "unacked_index")


@pytest.mark.worker
def test_jobs_queued_when_the_broker_restarts_are_sent_again(
    worker_factory, embedded_broker, broker_url, data_dir, tmp_path
):
    # 1. No worker yet: two jobs wait in the queue, and the broker restarts.
    recs = [_recording(data_dir, tmp_path, f"queued{i}", n=3, offset=3 * i) for i in range(2)]
    runs = [corpus_services.segmentation_run_create(recording=rec) for rec in recs]
    assert _redis(broker_url).llen("audio") == 2
    _restart_broker(embedded_broker, broker_url)
    assert _redis(broker_url).llen("audio") == 0
    worker = worker_factory(**FAST)
    worker_factory(beat=True, **FAST)
    # 2. A worker busy with a long job, one more job queued behind it, and the broker restarts.
    busy = _recording(data_dir, tmp_path, "busy", n=300)  # about 3 s of segmentation
    last = _recording(data_dir, tmp_path, "last", n=3, offset=6)
    runs.append(corpus_services.segmentation_run_create(recording=busy))
    wait_for(
        lambda: SegmentationRun.objects.filter(pk=runs[-1].pk, status="running").exists(),
        timeout=60,
        message="the long job to start",
    )
    runs.append(corpus_services.segmentation_run_create(recording=last))
    assert _redis(broker_url).llen("audio") == 1  # waiting behind the long job
    _restart_broker(embedded_broker, broker_url)

    finished = [_finished(SegmentationRun, run.pk) for run in runs]

    for run in finished:
        assert run.status == "succeeded" and run.attempts == 1, run.error
        _assert_clips_once(run)
    assert "its message is gone; sending it again" in _log(worker)
