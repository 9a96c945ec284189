"""Ingestion + segmentation of one hour of broadcast-like mp3, against ffmpeg's decode (the floor).

From the repository root (the command of RESULTS.md; these are also the defaults):

    .venv/bin/python -m benchmarks.segmentation --minutes 60 --repeat 2

RAVDESS and EmoDB come from $TUNISER_DATA_DIR (default ../shared/data).

1. Build (once, cached under var/bench/) an hour of broadcast-like audio: real RAVDESS and EmoDB
   utterances at varied levels, 0.3-3 s pauses, a -45 dBFS noise bed and a music-like interlude
   every few minutes, encoded as 44.1 kHz stereo 128 kb/s mp3 (the truth is kept beside it).
2. Floor: ffmpeg decoding that mp3 to 16 kHz mono PCM (best of --repeat + 1 runs).
3. Platform, end to end on a scratch SQLite database and media folder: `recording_ingest` (hash,
   decode, store original + normalised WAV, write the row) then `segmentation_run_execute` (VAD,
   quality figures, one WAV per clip, one transaction), best of --repeat.

Prints a table and, last, the one line `segmentation_ratio=<platform time / floor>`: the best
platform total (ingest + segmentation) over the best ffmpeg decode, two decimals
(`segmentation_ratio=1.69` in RESULTS.md).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("TUNISER_DATA_DIR", REPO.parent / "shared" / "data"))
RATE = 16000


def build_broadcast(minutes: float, out_dir: Path, seed: int = 7) -> tuple[Path, list[tuple[float, float]]]:
    import soundfile as sf

    from corpus.audio import ffmpeg_exe

    mp3 = out_dir / f"broadcast_{minutes:g}min_seed{seed}.mp3"
    truth_file = mp3.with_suffix(".truth.json")
    if mp3.exists() and truth_file.exists():
        return mp3, [tuple(x) for x in json.loads(truth_file.read_text())]
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    files = sorted((DATA / "ravdess").glob("*.flac")) + sorted((DATA / "emodb").glob("*.flac"))
    if not files:
        sys.exit(f"No test audio under {DATA} (see ../shared/data/README.md)")
    total = int(minutes * 60 * RATE)
    track = np.zeros(total, dtype=np.float32)
    truth: list[tuple[float, float]] = []
    pos = int(rng.uniform(0.5, 2.0) * RATE)
    next_music = pos + int(rng.uniform(120, 240) * RATE)
    import librosa

    while pos < total - 6 * RATE:
        if pos >= next_music:  # a music-like interlude: chords with a beat, 5-20 s
            n = int(rng.uniform(5, 20) * RATE)
            t = np.arange(n) / RATE
            chord = sum(np.sin(2 * np.pi * f * t) for f in rng.choice([220, 277, 330, 392, 440, 523], 3))
            beat = 0.5 + 0.5 * (np.sin(2 * np.pi * 2 * t) > 0)
            track[pos : pos + n] += (0.03 * chord * beat).astype(np.float32)[: total - pos]
            pos += n + int(rng.uniform(0.5, 2) * RATE)
            next_music = pos + int(rng.uniform(120, 240) * RATE)
            continue
        x, _ = sf.read(files[rng.integers(len(files))], dtype="float32")
        _, (a, b) = librosa.effects.trim(x, top_db=35, frame_length=512, hop_length=128)
        x = x[a:b] * (10 ** (rng.uniform(-6, 6) / 20)) / max(np.sqrt(np.mean(x[a:b] ** 2)), 1e-4) * 0.07
        end = min(pos + len(x), total)
        track[pos:end] += x[: end - pos]
        truth.append((pos / RATE, end / RATE))
        pos = end + int(rng.uniform(0.3, 3.0) * RATE)
    track += (10 ** (-45 / 20) * np.sqrt(3) * rng.uniform(-1, 1, total)).astype(np.float32)
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "track.wav"
        sf.write(wav, np.clip(track, -1, 1), RATE, subtype="PCM_16")
        subprocess.run(
            [
                ffmpeg_exe(),
                "-hide_banner",
                "-nostdin",
                "-v",
                "error",
                "-y",
                "-i",
                str(wav),
                "-ar",
                "44100",
                "-ac",
                "2",
                "-b:a",
                "128k",
                str(mp3),
            ],
            check=True,
        )
    truth_file.write_text(json.dumps(truth))
    return mp3, truth


def floor_decode(mp3: Path) -> float:
    from corpus.audio import ffmpeg_exe

    start = time.perf_counter()
    subprocess.run(
        [
            ffmpeg_exe(),
            "-hide_banner",
            "-nostdin",
            "-v",
            "error",
            "-i",
            str(mp3),
            "-ac",
            "1",
            "-ar",
            str(RATE),
            "-f",
            "s16le",
            "-y",
            os.devnull,
        ],
        check=True,
    )
    return time.perf_counter() - start


def platform_run(mp3: Path) -> dict:
    from django.core.files.storage import default_storage

    from core.access import project_get_default
    from corpus import services
    from corpus.models import Clip, Recording, SegmentationRun

    Recording.objects.all().delete()
    source = services.source_get_or_create(project=project_get_default(), title="Benchmark")
    t0 = time.perf_counter()
    result = services.recording_ingest(source=source, path=mp3, segment=False)
    t1 = time.perf_counter()
    run = services.segmentation_run_create(recording=result.recording, enqueue=False)
    t2 = time.perf_counter()
    services.segmentation_run_execute(run_id=run.pk)
    t3 = time.perf_counter()
    run = SegmentationRun.objects.get(pk=run.pk)
    if run.status != "succeeded":
        sys.exit(f"segmentation failed: {run.error}\n{run.traceback}")
    clips = list(Clip.objects.filter(recording=result.recording).values_list("start_s", "end_s"))
    n_files = len(default_storage.listdir(f"clips/{result.recording.pk}/run{run.pk}")[1])
    return {
        "ingest_s": t1 - t0,
        "segment_s": t3 - t2,
        "total_s": t3 - t0,
        "clips": clips,
        "clip_files": n_files,
        "duration_s": result.recording.duration_s,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()

    scratch = Path(tempfile.mkdtemp(prefix="tuniser-bench-"))
    os.environ.update(
        DJANGO_SETTINGS_MODULE="tuniser.settings",
        DATABASE_URL=f"sqlite:///{scratch / 'bench.sqlite3'}",
        MEDIA_ROOT=str(scratch / "media"),
        TUNISER_VAR_DIR=str(scratch),
        LOG_LEVEL="WARNING",
    )
    import django

    django.setup()
    from django.core.management import call_command

    from corpus.vad import boundary_f1

    call_command("migrate", verbosity=0)
    mp3, truth = build_broadcast(args.minutes, REPO / "var" / "bench")
    floors = [floor_decode(mp3) for _ in range(max(args.repeat, 1) + 1)]
    runs = [platform_run(mp3) for _ in range(max(args.repeat, 1))]
    best = min(runs, key=lambda r: r["total_s"])
    floor = min(floors)
    durations = np.array([e - s for s, e in best["clips"]])
    rows = [
        (
            "audio",
            f"{best['duration_s'] / 60:.1f} min mp3 44.1 kHz stereo ({mp3.stat().st_size / 2**20:.1f} MiB)",
        ),
        ("floor: ffmpeg decode to 16 kHz PCM", f"{floor:.2f} s (best of {len(floors)})"),
        ("ingest (hash + decode + store + row)", f"{best['ingest_s']:.2f} s"),
        ("segment (VAD + quality + clip WAVs + commit)", f"{best['segment_s']:.2f} s"),
        (
            "platform total",
            f"{best['total_s']:.2f} s (best of {len(runs)}; all: "
            + ", ".join(f"{r['total_s']:.2f}" for r in runs)
            + ")",
        ),
        ("clips written", f"{len(best['clips'])} rows, {best['clip_files']} WAV files"),
        (
            "clip length min/median/max",
            f"{durations.min():.2f} / {np.median(durations):.2f} / {durations.max():.2f} s",
        ),
        ("true utterances", f"{len(truth)}"),
        (
            "boundary F1 @100 ms / @200 ms",
            f"{boundary_f1(truth, best['clips'], 0.1):.3f} / {boundary_f1(truth, best['clips'], 0.2):.3f}",
        ),
        ("speed", f"{best['duration_s'] / best['total_s']:.0f}x real time"),
    ]
    width = max(len(k) for k, _ in rows)
    print(f"{'measure'.ljust(width)}  value")
    print(f"{'-' * width}  {'-' * 40}")
    for key, value in rows:
        print(f"{key.ljust(width)}  {value}")
    print(f"segmentation_ratio={best['total_s'] / floor:.2f}")


if __name__ == "__main__":
    main()
