"""50 simulated annotators over HTTP against PostgreSQL holding 100,000 clips.

From the repository root, with PostgreSQL running (the command of RESULTS.md, in two lines):

    export DATABASE_URL=postgres://postgres@127.0.0.1:5432/tuniser_bench
    .venv/bin/python -m benchmarks.annotation_load

Options, at their defaults: --clips 100000 --annotators 50 --seconds 60 --think-ms 2000
--workers 4.

1. A scratch PostgreSQL database (DATABASE_URL, default postgres://postgres@127.0.0.1:5432/
   tuniser_bench, created if missing; a non-PostgreSQL URL is refused, and the database's clips,
   recordings, sources and labels are deleted first): migrate, one real recording (two RAVDESS
   files from $TUNISER_DATA_DIR, default ../shared/data), `--clips` accepted clips in the
   labelling pool, `--annotators` annotators with API tokens.
2. gunicorn serves the platform on a free loopback port (DEBUG off, `--workers` processes).
3. Each simulated annotator loops for `--seconds` (bounded, loopback only): GET
   /api/annotation/next/, wait `--think-ms` x 0.5-1.5 (a person hears the clip, median 1.8 s,
   and decides: 2 s is faster than any human), POST /api/annotation/annotations/. Latencies are
   measured in the client.
4. Afterwards the database is checked for double assignments (K = 3): a clip labelled twice by
   one annotator, a pool entry with more than K labels done, a clip with more than K live
   assignments.

Prints a table and, last, the one line `annotation_next_p95_ms=<p95>`: the 95th percentile of
the GET /api/annotation/next/ latencies, in milliseconds, one decimal
(`annotation_next_p95_ms=64.6` in RESULTS.md; `nan` when no GET completed).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("TUNISER_DATA_DIR", REPO.parent / "shared" / "data"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ensure_database(url: str) -> None:
    import dj_database_url
    import psycopg

    cfg = dj_database_url.parse(url)
    admin = psycopg.connect(
        host=cfg["HOST"] or "127.0.0.1",
        port=cfg["PORT"] or 5432,
        user=cfg["USER"] or "postgres",
        password=cfg["PASSWORD"] or None,
        dbname="postgres",
        autocommit=True,
    )
    name = cfg["NAME"]
    if not admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
        admin.execute(f'CREATE DATABASE "{name}"')
    admin.close()


def setup(n_clips: int, n_annotators: int, media: Path) -> dict[str, str]:
    import soundfile as sf
    from django.contrib.auth.models import Group, User
    from django.core.management import call_command
    from django.db import connection, transaction
    from rest_framework.authtoken.models import Token

    from annotation.guideline import ensure_guideline
    from annotation.models import Annotation, Assignment, PoolEntry
    from annotation.tests.factories import clone_clips
    from core.access import project_get_default
    from corpus import services
    from corpus.models import Clip, Recording, Source
    from releases.importers import label_mappings_ensure

    call_command("migrate", verbosity=0)
    ensure_guideline()
    label_mappings_ensure()
    # Start from a clean slate each run (the scratch database may hold an earlier run).
    Annotation.objects.all().delete()
    Assignment.objects.all().delete()
    PoolEntry.objects.all().delete()
    Clip.objects.all().delete()
    Recording.objects.all().delete()
    Source.objects.all().delete()
    User.objects.filter(username__startswith="bench-").delete()
    project = project_get_default()
    source = services.source_get_or_create(project=project, title="Load benchmark")
    files = sorted((DATA / "ravdess").glob("*.flac"))[:2]
    samples = np.concatenate([sf.read(f, dtype="float32")[0] for f in files])
    wav = media / "seed.wav"
    sf.write(wav, samples, 16000, subtype="PCM_16")
    with transaction.atomic():
        rec = services.recording_ingest(source=source, path=wav, segment=False).recording
        run = services.segmentation_run_create(recording=rec, enqueue=False)
    services.segmentation_run_execute(run_id=run.pk)
    clone_clips(rec, n_clips)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    group = Group.objects.get_or_create(name="annotator")[0]
    tokens = {}
    for i in range(n_annotators):
        user = User.objects.create_user(username=f"bench-{i:03d}", password=None)
        user.groups.add(group)
        project.members.add(user)
        tokens[user.username] = Token.objects.create(user=user).key
    return tokens


class Annotator(threading.Thread):
    def __init__(self, port: int, token: str, until: float, think_s: float, seed: int):
        super().__init__(daemon=True)
        self.port, self.token, self.until, self.think_s = port, token, until, think_s
        self.rng = random.Random(seed)
        self.next_ms: list[float] = []
        self.submit_ms: list[float] = []
        self.errors: list[str] = []
        self.clips: list[int] = []

    def _request(self, conn, method, path, body=None):
        headers = {"Authorization": f"Token {self.token}", "Accept": "application/json"}
        if body is not None:
            body = json.dumps(body)
            headers["Content-Type"] = "application/json"
        start = time.perf_counter()
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        data = response.read()
        return response.status, data, (time.perf_counter() - start) * 1000

    def run(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        emotions = ["happy", "sad", "angry", "neutral", "fear", "disgust", "surprise"]
        for _ in range(100_000):  # bounded loop
            if time.monotonic() >= self.until:
                break
            try:
                status, data, ms = self._request(conn, "GET", "/api/annotation/next/")
                self.next_ms.append(ms)
                clip = json.loads(data)["clip"] if status == 200 else None
                if status != 200:
                    self.errors.append(f"next {status}: {data[:200]!r}")
                    continue
                if clip is None:
                    break
                time.sleep(self.think_s * self.rng.uniform(0.5, 1.5))
                body = {
                    "clip": clip["id"],
                    "emotion": self.rng.choice(emotions),
                    "gender": "female",
                    "time_spent_ms": 3000,
                }
                status, data, ms = self._request(conn, "POST", "/api/annotation/annotations/", body)
                self.submit_ms.append(ms)
                if status != 201:
                    self.errors.append(f"submit {status}: {data[:200]!r}")
                else:
                    self.clips.append(clip["id"])
            except (OSError, http.client.HTTPException) as exc:
                self.errors.append(f"{type(exc).__name__}: {exc}")
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        conn.close()


def double_assignments() -> dict[str, int]:
    from django.db.models import Count

    from annotation.models import Annotation, Assignment, PoolEntry

    pairs = (
        Annotation.objects.values("clip_id", "annotator_id").annotate(n=Count("id")).filter(n__gt=1).count()
    )
    k = 3
    over = 0
    # An escalated clip (its labels disagreed) may want more than K: over is beyond what it wants.
    for entry in PoolEntry.objects.filter(kind="labelling", n_done__gt=0).values("n_done", "wanted"):
        if entry["n_done"] > max(k, entry["wanted"]):
            over += 1
    live = (
        Assignment.objects.filter(state="live", kind="labelling")
        .values("clip_id")
        .annotate(n=Count("id"))
        .filter(n__gt=k)
        .count()
    )
    return {"same_annotator_twice": pairs, "clips_over_k": over, "clips_over_k_live": live}


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clips", type=int, default=100_000)
    parser.add_argument("--annotators", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--think-ms", type=float, default=2000.0)
    parser.add_argument("--workers", type=int, default=4)
    args = parser.parse_args()

    url = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/tuniser_bench")
    if not url.startswith("postgres"):
        sys.exit("This benchmark needs PostgreSQL: set DATABASE_URL=postgres://...")
    _ensure_database(url)
    scratch = Path(tempfile.mkdtemp(prefix="tuniser-load-"))
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tuniser.settings",
        "DATABASE_URL": url,
        "MEDIA_ROOT": str(scratch / "media"),
        "TUNISER_VAR_DIR": str(scratch),
        "DJANGO_DEBUG": "0",
        "DJANGO_SECRET_KEY": "benchmark-only",
        "LOG_LEVEL": "WARNING",
        "CELERY_TASK_ALWAYS_EAGER": "1",
        "DB_CONN_MAX_AGE": "600",
    }
    os.environ.update(env)
    import django

    django.setup()
    t0 = time.perf_counter()
    tokens = setup(args.clips, args.annotators, scratch)
    setup_s = time.perf_counter() - t0

    port = _free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "tuniser.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(args.workers),
            "--log-level",
            "warning",
        ],
        cwd=REPO,
        env=env,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                conn.request("GET", "/healthz")
                if conn.getresponse().status == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                sys.exit("gunicorn did not start")
            time.sleep(0.3)
        until = time.monotonic() + args.seconds
        clients = [
            Annotator(port, token, until, args.think_ms / 1000, seed=i)
            for i, token in enumerate(tokens.values())
        ]
        start = time.perf_counter()
        for c in clients:
            c.start()
        for c in clients:
            c.join(timeout=args.seconds + 120)
        elapsed = time.perf_counter() - start
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)

    next_ms = [v for c in clients for v in c.next_ms]
    submit_ms = [v for c in clients for v in c.submit_ms]
    errors = [e for c in clients for e in c.errors]
    doubles = double_assignments()
    n_requests = len(next_ms) + len(submit_ms)
    rows = [
        ("database", f"PostgreSQL, {args.clips:,} clips in the labelling pool (setup {setup_s:.0f} s)"),
        (
            "load",
            f"{args.annotators} annotators over HTTP, {args.seconds:.0f} s, "
            f"think time {args.think_ms:.0f} ms, gunicorn x{args.workers}",
        ),
        ("requests", f"{n_requests:,} in {elapsed:.1f} s = {n_requests / elapsed:.1f} req/s"),
        ("labels stored", f"{len(submit_ms):,}"),
        (
            "next p50 / p95 / p99",
            f"{pct(next_ms, 50):.1f} / {pct(next_ms, 95):.1f} / {pct(next_ms, 99):.1f} ms",
        ),
        (
            "submit p50 / p95 / p99",
            f"{pct(submit_ms, 50):.1f} / {pct(submit_ms, 95):.1f} / {pct(submit_ms, 99):.1f} ms",
        ),
        ("errors", f"{len(errors)}" + (f" (first: {errors[0]})" if errors else "")),
        ("double assignments", f"{sum(doubles.values())} ({doubles})"),
    ]
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key.ljust(width)}  {value}")
    print(f"annotation_next_p95_ms={pct(next_ms, 95):.1f}")


if __name__ == "__main__":
    main()
