"""`python manage.py runstack`: the whole platform in one terminal (what `make run` starts).

1. the broker: an embedded Redis on a Unix socket under var/ when REDIS_URL is not set;
2. a real Celery worker consuming the `default`, `audio` and `gpu` queues;
3. Celery beat, which sends the job sweep (core.jobs.jobs_sweep) every TUNISER_JOB_SWEEP_EVERY_S
   seconds, so that a job whose worker or message was lost is taken again with nobody acting;
4. the web server on 127.0.0.1:8000.
Ctrl-C (or SIGTERM) stops every process it started; if one of them dies, the others are stopped
too, so the platform never runs half-up without saying so.
"""

import os
import signal
import subprocess
import sys
import time

from django.conf import settings
from django.core.management.base import BaseCommand

from tuniser.embedded_redis import EmbeddedRedis


class Command(BaseCommand):
    help = (
        "Start the broker (embedded Redis unless REDIS_URL is set), a Celery worker, Celery beat "
        "and the web server."
    )

    def add_arguments(self, parser):
        parser.add_argument("--addr", default=os.environ.get("TUNISER_ADDR", "127.0.0.1:8000"))
        parser.add_argument("--concurrency", type=int, default=int(os.environ.get("CELERY_CONCURRENCY", "2")))
        parser.add_argument("--queues", default="default,audio,gpu")

    def handle(self, *args, **opts):
        env = os.environ.copy()
        broker = None
        if settings.EMBEDDED_REDIS:
            socket_path = settings.REDIS_URL.removeprefix("redis+socket://")
            broker = EmbeddedRedis(socket_path).start()
            self.stdout.write(f"broker   embedded Redis on {broker.socket_path}")
        else:
            self.stdout.write(f"broker   {settings.REDIS_URL}")
        children: list[tuple[str, subprocess.Popen]] = []
        worker_cmd = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "tuniser",
            "worker",
            "-Q",
            opts["queues"],
            "--concurrency",
            str(opts["concurrency"]),
            "--loglevel",
            "INFO",
            "--hostname",
            "tuniser@%h",
        ]
        beat_cmd = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "tuniser",
            "beat",
            "--loglevel",
            "INFO",
            "--schedule",
            str(settings.VAR_DIR / "celerybeat-schedule"),
        ]
        web_cmd = [sys.executable, "manage.py", "runserver", opts["addr"], "--noreload"]
        stopping = False

        def stop(*_):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        try:
            children.append(("worker", subprocess.Popen(worker_cmd, env=env)))
            children.append(("beat", subprocess.Popen(beat_cmd, env=env)))
            children.append(("web", subprocess.Popen(web_cmd, env=env)))
            self.stdout.write(
                self.style.SUCCESS(f"TuniSER Studio is up on http://{opts['addr']}/  (Ctrl-C stops it)")
            )
            while not stopping:
                for name, proc in children:
                    if proc.poll() is not None:
                        self.stderr.write(f"{name} exited with code {proc.returncode}; stopping the platform")
                        stopping = True
                time.sleep(0.5)
        finally:
            for _, proc in children:
                if proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)
            for _, proc in children:
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()
            if broker:
                broker.stop()
            self.stdout.write("stopped")
