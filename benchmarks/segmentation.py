"""Ingestion + segmentation of one hour of broadcast-like mp3, against ffmpeg's decode (the floor).

From the repository root (the command of RESULTS.md; these are also the defaults):

    .venv/bin/python -m benchmarks.segmentation --minutes 60 --repeat 2

RAVDESS and EmoDB come from $TUNISER_DATA_DIR (default ../shared/data).

1. Build (once, cached under var/bench/) an hour of broadcast-like audio cut into "episodes" of
   8-12 minutes. Each opens and closes with a 20-40 s theme song and carries 2-3 jingles of 3-8 s
   between its utterances; the music is synthesised here (chords with harmonics, a vibrato lead
   melody, kick drum, hi-hat noise bursts) at -20 to -26 dBFS RMS, the level of the speech. The
   speech: real RAVDESS and EmoDB utterances at varied levels (-23 dBFS +-6 dB), 0.3-3 s pauses;
   0.5-2 s of the -45 dBFS noise bed (under everything) separate music from speech. Encoded as
   44.1 kHz stereo 128 kb/s mp3; the speech truth and the music spans are kept beside it
   (`.truth.json`, `.music.json`).
2. Floor: ffmpeg decoding that mp3 to 16 kHz mono PCM (best of --repeat + 1 runs).
3. Platform, end to end on a scratch SQLite database and media folder, default settings (speech
   gate and speaker step on): `recording_ingest` (hash, decode, store original + normalised
   WAV, write the row) then `segmentation_run_execute` (VAD, speech gate, speaker step: speaker
   embeddings, changes and clusters, quality figures, one WAV per clip, one transaction), best
   of --repeat. The same recording is segmented again with `speaker_step=False` (the
   segmentation of issue #11, target <= 2.0 of the floor), and unless --no-gate-comparison,
   with `speech_gate=0` too (webrtcvad alone) so that the gate's effect shows.
4. Accuracy: clips inside music (a clip counts when more than half of it lies inside a music
   span; target 0) and boundary F1 at 100 / 200 ms against the speech truth (target >= 0.85 at
   100 ms on this hour), gate on and off; the same F1 on the product owner's accuracy set-up
   (`corpus.tests.audio_fixtures.build_speech_track`, target >= 0.9).

The Silero VAD time inside segmentation is measured by timing `Analysis._silero_compute` (the
model's run; segmentation starts it in a second thread, beside webrtcvad and the energy tracks,
so part of it overlaps them) and `Analysis._speech_gate` (the cut alone, once the probabilities
are there); Silero runs with the gate off too, since every clip
stores its `speech_prob`.

Prints two tables and, last, the one line `segmentation_ratio=<platform time / floor>`: the best
platform total (ingest + segmentation, default settings: speaker step on) over the best ffmpeg
decode, two decimals (target <= 4.0 with the speaker step; the table gives the ratio without
it, target <= 2.0).
"""

from __future__ import annotations

import argparse
import functools
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
Spans = list[tuple[float, float]]


# ---------------------------------------------------------------------------------------------
# the broadcast hour


def _db(x: np.ndarray) -> float:
    return 20 * np.log10(max(float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))), 1e-12))


def synth_music(seconds: float, rng: np.random.Generator, rms_dbfs: float) -> np.ndarray:
    """A few bars of synthetic pop music at 16 kHz, float32, RMS ``rms_dbfs``.

    Chords (I-V-vi-IV, three voices with five harmonics each, one chord a bar), a lead melody on
    the major pentatonic with vibrato (5-6 Hz, +-0.3 semitone) and six harmonics, a kick drum
    on every beat (a 150 -> 50 Hz sweep) and hi-hat noise bursts (high-passed, 15 ms decay) on
    every eighth note; faded in and out.
    """
    from scipy.signal import butter, sosfilt

    n = int(seconds * RATE)
    t = np.arange(n) / RATE
    beat = 60.0 / rng.uniform(96, 128)
    bar = 4 * beat
    root = 220.0 * 2 ** (int(rng.integers(-5, 5)) / 12)
    # chords: per-sample chord index, continuous phase so that chord changes do not click
    progression = np.array([(0, 4, 7), (7, 11, 16), (9, 12, 16), (5, 9, 12)])
    chord = progression[(t // bar).astype(np.int64) % 4]
    pad = np.zeros(n)
    for voice in range(3):
        phase = 2 * np.pi * np.cumsum(root * 2 ** (chord[:, voice] / 12)) / RATE
        pad += sum(0.6 ** (h - 1) * np.sin(h * phase) for h in range(1, 6))
    pad *= 0.75 + 0.25 * np.exp(-(t % bar) / 0.6)  # each chord struck, then held
    # lead: one note per 1-4 eighths on the pentatonic scale an octave up, with vibrato
    scale = np.array([0, 2, 4, 7, 9, 12, 14, 16]) + 12
    eighth = beat / 2
    freq = np.zeros(n)
    env = np.zeros(n)
    start = 0.0
    while start < seconds:
        length = eighth * int(rng.integers(1, 5))
        a, b = int(start * RATE), min(n, int((start + length) * RATE))
        freq[a:b] = root * 2 ** (scale[rng.integers(len(scale))] / 12)
        dt = np.arange(b - a) / RATE
        env[a:b] = np.minimum(1.0, dt / 0.02) * np.exp(-dt / (1.5 * length)) * (rng.random() > 0.15)
        start += length
    vibrato = 2 ** (0.3 * np.sin(2 * np.pi * rng.uniform(5, 6) * t) / 12)
    phase = 2 * np.pi * np.cumsum(freq * vibrato) / RATE
    lead = env * sum(np.sin(h * phase) / h for h in range(1, 7))
    # drums: a kick on every beat, a hi-hat on every eighth (the off-beats louder)
    kt = np.arange(int(0.25 * RATE)) / RATE
    kick_one = np.sin(2 * np.pi * (50 * kt + 100 * 0.03 * (1 - np.exp(-kt / 0.03)))) * np.exp(-kt / 0.12)
    ht = np.arange(int(0.06 * RATE)) / RATE
    hat_one = sosfilt(butter(4, 6000, "highpass", fs=RATE, output="sos"), rng.standard_normal(len(ht)))
    hat_one *= np.exp(-ht / 0.015)
    kick = np.zeros(n)
    hat = np.zeros(n)
    for k, onset in enumerate(np.arange(0, seconds, eighth)):
        i = int(onset * RATE)
        if k % 2 == 0:
            kick[i : i + len(kick_one)] += kick_one[: n - i]
        hat[i : i + len(hat_one)] += (1.0 if k % 2 else 0.5) * hat_one[: n - i]
    mix = np.zeros(n)
    for part, weight in ((pad, 1.0), (lead, 0.8), (kick, 0.9), (hat, 0.3)):
        mix += weight * part / 10 ** (_db(part) / 20)
    fade = min(1.0, seconds / 8)
    ramp = np.minimum(1.0, np.minimum(t, seconds - t) / fade)
    mix *= ramp
    return (mix * 10 ** ((rms_dbfs - _db(mix)) / 20)).astype(np.float32)


def _episode_lengths(total_s: float, rng: np.random.Generator) -> list[float]:
    """8-12 minute episodes filling ``total_s``; a short remainder is added to the last one."""
    lengths: list[float] = []
    left = total_s
    while left > 0:
        length = rng.uniform(8, 12) * 60
        if left - length < 4 * 60:
            length = left if not lengths or left >= 4 * 60 else 0.0
            if length == 0.0:
                lengths[-1] += left
                break
        lengths.append(length)
        left -= length
    return lengths


def build_broadcast(minutes: float, out_dir: Path, seed: int = 7) -> tuple[Path, Spans, Spans]:
    """The cached mp3, the speech truth and the music spans (seconds), built on first use."""
    import librosa
    import soundfile as sf

    from corpus.audio import ffmpeg_exe

    mp3 = out_dir / f"broadcast_episodes_{minutes:g}min_seed{seed}.mp3"
    truth_file, music_file = mp3.with_suffix(".truth.json"), mp3.with_suffix(".music.json")
    if mp3.exists() and truth_file.exists() and music_file.exists():
        load = lambda f: [tuple(x) for x in json.loads(f.read_text())]  # noqa: E731
        return mp3, load(truth_file), load(music_file)
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    files = sorted((DATA / "ravdess").glob("*.flac")) + sorted((DATA / "emodb").glob("*.flac"))
    if not files:
        sys.exit(f"No test audio under {DATA} (see ../shared/data/README.md)")
    total = int(minutes * 60 * RATE)
    track = np.zeros(total, dtype=np.float32)
    truth: Spans = []
    music: Spans = []

    def put_music(pos: int, seconds: float) -> int:
        x = synth_music(seconds, rng, rng.uniform(-26, -20))[: total - pos]
        track[pos : pos + len(x)] += x
        music.append((pos / RATE, (pos + len(x)) / RATE))
        return pos + len(x)

    def gap(lo: float, hi: float) -> int:
        return int(rng.uniform(lo, hi) * RATE)

    e0 = 0
    for length in _episode_lengths(minutes * 60, rng):
        e1 = min(total, e0 + int(length * RATE))
        theme = min(40.0, (e1 - e0) / RATE / 6)
        pos = put_music(e0 + gap(0.5, 2.0), rng.uniform(min(20.0, theme), theme))
        end_theme = rng.uniform(min(20.0, theme), theme)
        end_theme_at = e1 - gap(0.5, 2.0) - int(end_theme * RATE)
        speech_end = end_theme_at - gap(0.5, 2.0)
        pos += gap(0.5, 2.0)
        n_j = int(rng.integers(2, 4))  # 2-3 jingles, spread over the episode
        span = speech_end - pos
        jingles = [pos + int(span * (k + rng.uniform(-0.15, 0.15)) / (n_j + 1)) for k in range(1, n_j + 1)]
        while True:
            if jingles and pos >= jingles[0]:
                jingles.pop(0)
                pos = put_music(pos, rng.uniform(3, 8)) + gap(0.5, 2.0)
                continue
            x, _ = sf.read(files[rng.integers(len(files))], dtype="float32")
            if x.ndim > 1:
                x = x.mean(axis=1)
            _, (a, b) = librosa.effects.trim(x, top_db=35, frame_length=512, hop_length=128)
            x = x[a:b] * (10 ** (rng.uniform(-6, 6) / 20)) / max(np.sqrt(np.mean(x[a:b] ** 2)), 1e-4) * 0.07
            if pos + len(x) > speech_end:
                break
            track[pos : pos + len(x)] += x
            truth.append((pos / RATE, (pos + len(x)) / RATE))
            pos += len(x) + gap(0.3, 3.0)
        put_music(end_theme_at, end_theme)
        e0 = e1
    track += (10 ** (-45 / 20) * np.sqrt(3) * rng.uniform(-1, 1, total)).astype(np.float32)
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "track.wav"
        sf.write(wav, np.clip(track, -1, 1), RATE, subtype="PCM_16")
        subprocess.run(
            [ffmpeg_exe(), "-hide_banner", "-nostdin", "-v", "error", "-y", "-i", str(wav)]
            + ["-ar", "44100", "-ac", "2", "-b:a", "128k", str(mp3)],
            check=True,
        )
    truth_file.write_text(json.dumps(truth))
    music_file.write_text(json.dumps(music))
    return mp3, truth, music


# ---------------------------------------------------------------------------------------------
# measurements


def floor_decode(mp3: Path) -> float:
    from corpus.audio import ffmpeg_exe

    start = time.perf_counter()
    subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-nostdin", "-v", "error", "-i", str(mp3)]
        + ["-ac", "1", "-ar", str(RATE), "-f", "s16le", "-y", os.devnull],
        check=True,
    )
    return time.perf_counter() - start


TIMERS: dict[str, float] = {}


def _instrument_vad() -> None:
    """Time Silero's model run (in whichever thread) and the gate's cut itself."""
    from corpus.vad.core import Analysis

    compute, gate = Analysis._silero_compute, Analysis._speech_gate

    @functools.wraps(compute)
    def silero_compute(self, progress=None):
        t0 = time.perf_counter()
        try:
            return compute(self, progress)
        finally:  # the model's run, in whichever thread it runs (segmentation prefetches it)
            TIMERS["silero_s"] = TIMERS.get("silero_s", 0.0) + time.perf_counter() - t0

    @functools.wraps(gate)
    def speech_gate(self, ticks, params):
        self.silero_probs()  # waits for the prefetch thread: its time is counted above
        t0 = time.perf_counter()
        try:
            return gate(self, ticks, params)
        finally:  # the cut alone
            TIMERS["gate_s"] = TIMERS.get("gate_s", 0.0) + time.perf_counter() - t0

    Analysis._silero_compute, Analysis._speech_gate = silero_compute, speech_gate

    from corpus import services

    step = services._speaker_step

    @functools.wraps(step)
    def speaker_step(*args, **kwargs):
        t0 = time.perf_counter()
        try:
            return step(*args, **kwargs)
        finally:
            TIMERS["speaker_s"] = TIMERS.get("speaker_s", 0.0) + time.perf_counter() - t0

    services._speaker_step = speaker_step


def _segment(recording, **params) -> dict:
    from django.core.files.storage import default_storage

    from corpus import services
    from corpus.models import Clip, SegmentationRun

    TIMERS.clear()
    t0 = time.perf_counter()
    run = services.segmentation_run_create(recording=recording, enqueue=False, **params)
    services.segmentation_run_execute(run_id=run.pk)
    elapsed = time.perf_counter() - t0
    run = SegmentationRun.objects.get(pk=run.pk)
    if run.status != "succeeded":
        sys.exit(f"segmentation failed: {run.error}\n{run.traceback}")
    clips = list(Clip.objects.filter(segmentation_run=run).values_list("start_s", "end_s", "speech_prob"))
    return {
        "segment_s": elapsed,
        "clips": [(a, b) for a, b, _ in clips],
        "speech_prob": [p for _, _, p in clips],
        "clip_files": len(default_storage.listdir(f"clips/{recording.pk}/run{run.pk}")[1]),
        "silero_s": TIMERS.get("silero_s", 0.0),
        "gate_s": TIMERS.get("gate_s", 0.0),
        "speaker_s": TIMERS.get("speaker_s", 0.0),
        "n_clusters": run.speaker_clusters.count(),
    }


def platform_run(mp3: Path, compare: bool) -> dict:
    from core.access import project_get_default
    from corpus import services
    from corpus.models import Recording

    Recording.objects.all().delete()
    source = services.source_get_or_create(project=project_get_default(), title="Benchmark")
    t0 = time.perf_counter()
    result = services.recording_ingest(source=source, path=mp3, segment=False)
    ingest_s = time.perf_counter() - t0
    on = _segment(result.recording)  # the configured defaults: speech gate and speaker step on
    nospk = _segment(result.recording, speaker_step=False)
    off = _segment(result.recording, speech_gate=0.0, speaker_step=False) if compare else None
    return {
        "ingest_s": ingest_s,
        "total_s": ingest_s + on["segment_s"],
        "total_nospk_s": ingest_s + nospk["segment_s"],
        "on": on,
        "nospk": nospk,
        "off": off,
        "duration_s": result.recording.duration_s,
    }


def inside(clip: tuple[float, float], spans: Spans) -> float:
    a, b = clip
    return sum(max(0.0, min(b, e) - max(a, s)) for s, e in spans)


def accuracy(clips: Spans, truth: Spans, music: Spans) -> dict:
    from corpus.vad import boundary_f1

    in_music = [c for c in clips if inside(c, music) > 0.5 * (c[1] - c[0])]
    covered = {i for i, u in enumerate(truth) for c in clips if c[0] < u[1] and u[0] < c[1]}
    return {
        "clips": len(clips),
        "in_music": len(in_music),
        "music_s": sum(inside(c, music) for c in clips),
        "missed": len(truth) - len(covered),
        "f1_100": boundary_f1(truth, clips, 0.1),
        "f1_200": boundary_f1(truth, clips, 0.2),
    }


def accuracy_setup() -> dict[str, float]:
    """Boundary F1 at 100 ms on the product owner's set-up (the track of corpus/tests/test_vad.py)."""
    from corpus.tests.audio_fixtures import build_speech_track
    from corpus.vad import VadParams, analyse, boundary_f1, detect_regions

    samples, sr, truth = build_speech_track()
    analysis = analyse(samples, sr)
    return {
        gate: boundary_f1(truth, detect_regions(analysis, sr, VadParams(speech_gate=value)), 0.1)
        for gate, value in (("on", VadParams().speech_gate), ("off", 0.0))
    }


def _print_table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip())
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument(
        "--no-gate-comparison",
        action="store_true",
        help="skip the second segmentation with speech_gate=0 (webrtcvad alone) and the accuracy set-up",
    )
    args = parser.parse_args()
    compare = not args.no_gate_comparison

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

    from corpus.services import segmentation_defaults

    call_command("migrate", verbosity=0)
    _instrument_vad()
    mp3, truth, music = build_broadcast(args.minutes, REPO / "var" / "bench")
    floors = [floor_decode(mp3) for _ in range(max(args.repeat, 1) + 1)]
    runs = [platform_run(mp3, compare) for _ in range(max(args.repeat, 1))]
    best = min(runs, key=lambda r: r["total_s"])
    floor = min(floors)
    on = best["on"]
    durations = np.array([e - s for s, e in on["clips"]] or [0.0])
    music_s = sum(e - s for s, e in music)
    gate = segmentation_defaults()["speech_gate"]
    rows = [
        (
            "audio",
            f"{best['duration_s'] / 60:.1f} min mp3 44.1 kHz stereo ({mp3.stat().st_size / 2**20:.1f} MiB)",
        ),
        (
            "truth",
            f"{len(truth)} utterances ({sum(e - s for s, e in truth) / 60:.1f} min); "
            f"{len(music)} music spans ({music_s / 60:.1f} min: themes + jingles)",
        ),
        ("floor: ffmpeg decode to 16 kHz PCM", f"{floor:.2f} s (best of {len(floors)})"),
        ("ingest (hash + decode + store + row)", f"{best['ingest_s']:.2f} s"),
        (
            f"segment, default (speech_gate={gate:g})",
            f"{on['segment_s']:.2f} s (VAD + gate + quality + clip WAVs + commit)",
        ),
        (
            "  Silero VAD probabilities (2nd thread)",
            f"{on['silero_s']:.2f} s (all runs: "
            + ", ".join(f"{r['on']['silero_s']:.2f}" for r in runs)
            + ")",
        ),
        ("  of which the gate's cut (mask + split)", f"{on['gate_s'] * 1000:.0f} ms"),
        (
            "  speaker step (embeddings, changes, clusters)",
            f"{on['speaker_s']:.2f} s, {on['n_clusters']} clusters",
        ),
        (
            "segment, speaker step off",
            f"{best['nospk']['segment_s']:.2f} s (Silero {best['nospk']['silero_s']:.2f} s, 2nd thread)",
        ),
        (
            "platform total (ingest + segment, default)",
            f"{best['total_s']:.2f} s (best of {len(runs)}; all: "
            + ", ".join(f"{r['total_s']:.2f}" for r in runs)
            + ")",
        ),
        ("clips written", f"{len(on['clips'])} rows, {on['clip_files']} WAV files"),
        (
            "clip length min/median/max",
            f"{durations.min():.2f} / {np.median(durations):.2f} / {durations.max():.2f} s",
        ),
        ("speed", f"{best['duration_s'] / best['total_s']:.0f}x real time"),
        (
            "ratio to the floor, speaker step off",
            f"{best['total_nospk_s'] / floor:.2f} (target <= 2.0; {best['total_nospk_s']:.2f} s)",
        ),
        ("ratio to the floor, default (speaker step on)", f"{best['total_s'] / floor:.2f} (target <= 4.0)"),
    ]
    if best["off"]:
        off = best["off"]
        rows.insert(
            9,
            (
                "segment, speech_gate=0 (webrtc alone)",
                f"{off['segment_s']:.2f} s (Silero still runs for speech_prob: {off['silero_s']:.2f} s)",
            ),
        )
    _print_table(("measure", "value"), rows)
    print()
    acc_rows = []
    for label, res in (
        ("default (gate + speaker step)", on),
        ("gate on, speaker step off", best["nospk"]),
        ("gate off (speech_gate=0), no step", best["off"]),
    ):
        if res is None:
            continue
        a = accuracy(res["clips"], truth, music)
        acc_rows.append(
            (
                label,
                str(a["clips"]),
                str(a["in_music"]),
                f"{a['music_s']:.1f}",
                f"{a['missed']}",
                f"{a['f1_100']:.3f}",
                f"{a['f1_200']:.3f}",
            )
        )
    _print_table(
        (
            "benchmark hour",
            "clips",
            "clips inside music",
            "music s in clips",
            "utterances missed",
            "F1@100ms",
            "F1@200ms",
        ),
        acc_rows,
    )
    print("targets: 0 clips inside music; F1@100ms >= 0.85 (gate on)")
    if compare:
        setup = accuracy_setup()
        print(
            f"accuracy set-up (test_vad's 60 RAVDESS utterances): F1@100ms gate on {setup['on']:.3f}, "
            f"off {setup['off']:.3f} (target >= 0.9)"
        )
    print(f"segmentation_ratio={best['total_s'] / floor:.2f}")


if __name__ == "__main__":
    main()
