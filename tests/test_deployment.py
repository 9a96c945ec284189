"""The platform as it is started: `runstack` (what `make run` runs), settings, docker-compose."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _children(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    state = subprocess.run(
        ["ps", "-o", "stat=", "-p", str(pid)], capture_output=True, text=True
    ).stdout.strip()
    return bool(state) and not state.startswith("Z")


def test_runstack_serves_the_platform_and_ctrl_c_stops_every_process(tmp_path):
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(
        TUNISER_VAR_DIR=str(tmp_path / "var"),
        CELERY_CONCURRENCY="1",
        PYTHONUNBUFFERED="1",
        TUNISER_JOB_SWEEP_EVERY_S="1",
    )
    manage = [sys.executable, str(REPO / "manage.py")]
    subprocess.run([*manage, "migrate", "--noinput", "-v", "0"], check=True, env=env, cwd=REPO)
    boot = subprocess.run([*manage, "ensure_demo_admin"], env=env, cwd=REPO, capture_output=True, text=True)
    assert "Created demo admin: admin / tuniser-demo" in boot.stdout
    log = open(tmp_path / "stack.log", "wb")
    stack = subprocess.Popen(
        [*manage, "runstack", "--addr", f"127.0.0.1:{port}"],
        env=env,
        cwd=REPO,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                    assert r.status == 200
                    break
            except OSError:
                assert stack.poll() is None, (tmp_path / "stack.log").read_text()
                assert time.monotonic() < deadline, (tmp_path / "stack.log").read_text()
                time.sleep(0.5)
        # The login page is public; every other page redirects to it.
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/recordings/", timeout=5) as r:
            assert "/accounts/login/" in r.url
        # A refused request is one WARNING line in the terminal: not twice, no traceback.
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/sources/", timeout=5)
        except urllib.error.HTTPError as refused:
            assert refused.code == 403
        else:
            raise AssertionError("an anonymous API call was answered")
        deadline = time.monotonic() + 60
        while b"ready." not in (tmp_path / "stack.log").read_bytes():
            assert time.monotonic() < deadline, "the Celery worker did not start"
            time.sleep(0.5)
        # Beat sends the job sweep and the worker runs it: nobody has to remember a command.
        deadline = time.monotonic() + 60
        while b"core.tasks.jobs_sweep" not in (tmp_path / "stack.log").read_bytes():
            assert time.monotonic() < deadline, "no job sweep reached the worker"
            time.sleep(0.5)
        children = _children(stack.pid)
        assert len(children) >= 4  # the embedded Redis, the worker, beat, the web server

        stack.send_signal(signal.SIGINT)
        assert stack.wait(timeout=60) == 0
        out = (tmp_path / "stack.log").read_text(errors="replace")
        assert [line for line in out.splitlines() if "Forbidden" in line] == [
            line for line in out.splitlines() if "WARNING django.request: Forbidden: /api/sources/" in line
        ]
        assert out.count("WARNING django.request: Forbidden: /api/sources/") == 1, out
        assert "Traceback" not in out, out
        # What runstack itself prints: the broker, the address, and that it stopped.
        assert f"broker   embedded Redis on {tmp_path / 'var' / 'redis' / 'redis.sock'}" in out, out
        assert f"TuniSER Studio is up on http://127.0.0.1:{port}/  (Ctrl-C stops it)" in out
        assert out.rstrip().endswith("stopped"), out[-500:]
        time.sleep(0.5)
        assert [pid for pid in children if _alive(pid)] == []
        assert not (tmp_path / "var" / "redis" / "redis.sock").exists()
    finally:
        if stack.poll() is None:
            stack.kill()
        log.close()


def test_production_refuses_to_start_without_a_secret_key():
    env = {**os.environ, "DJANGO_DEBUG": "0", "DJANGO_SECRET_KEY": ""}
    proc = subprocess.run(
        [sys.executable, str(REPO / "manage.py"), "check"], env=env, cwd=REPO, capture_output=True, text=True
    )
    assert proc.returncode != 0 and "DJANGO_SECRET_KEY must be set" in proc.stderr


def test_docker_compose_describes_a_complete_deployment():
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"postgres", "redis", "web", "worker-audio", "worker-gpu", "migrate"} <= set(services)
    for name, service in services.items():
        assert "image" in service or "build" in service, name
        deps = service.get("depends_on", {})
        assert set(deps) <= set(services), f"{name} depends on an unknown service"
        for volume in service.get("volumes", []):
            assert volume.split(":")[0] in compose["volumes"], volume
    for name in ("postgres", "redis", "web", "worker-audio", "worker-gpu"):
        assert "healthcheck" in services[name], name
    # Exactly one beat sends the job sweep; a worker consumes its queue (`default`).
    beats = [name for name, service in services.items() if "beat" in service.get("command", [])]
    assert beats == ["beat"], beats
    assert services["beat"]["command"][:4] == ["celery", "-A", "tuniser", "beat"]
    audio_cmd = services["worker-audio"]["command"]
    assert "default" in audio_cmd[audio_cmd.index("-Q") + 1]
    assert "gunicorn" in services["web"]["command"]
    assert services["worker-gpu"]["command"][services["worker-gpu"]["command"].index("-Q") + 1] == "gpu"
    assert "audio" in services["worker-audio"]["command"][services["worker-audio"]["command"].index("-Q") + 1]
    devices = services["worker-gpu"]["deploy"]["resources"]["reservations"]["devices"]
    assert devices[0]["driver"] == "nvidia" and "gpu" in devices[0]["capabilities"]
    env = services["web"]["environment"]
    assert env["DJANGO_DEBUG"] == "0" and env["DATABASE_URL"].startswith("postgres://")
    assert env["REDIS_URL"].startswith("redis://redis:")
