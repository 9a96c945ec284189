"""Real media files for ingestion tests, made with the same ffmpeg binary the platform uses."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import soundfile as sf

from corpus.audio import ffmpeg_exe

RATE = 16000


def ravdess_speech(data_dir: Path, n: int = 3, gap_s: float = 1.0, offset: int = 0) -> tuple[np.ndarray, int]:
    """`n` real RAVDESS utterances joined by `gap_s` of silence, as float32 at 16 kHz."""
    files = sorted((data_dir / "ravdess").glob("*.flac"))[offset : offset + n]
    parts = []
    for f in files:
        samples, rate = sf.read(f, dtype="float32")
        assert rate == RATE
        parts += [samples, np.zeros(int(gap_s * RATE), dtype="float32")]
    return np.concatenate(parts), RATE


def write_wav(path: Path, samples: np.ndarray, rate: int = RATE) -> Path:
    sf.write(path, samples, rate, subtype="PCM_16")
    return path


def transcode(src: Path, dst: Path, *args: str) -> Path:
    """Encode `src` into `dst` (format from the extension), e.g. 44.1 kHz stereo like broadcast."""
    subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-nostdin", "-v", "error", "-y", "-i", str(src), *args, str(dst)],
        check=True,
    )
    return dst


def video_with_audio(src_wav: Path, dst: Path, *audio_args: str) -> Path:
    """A small video (test pattern) whose audio track is `src_wav`."""
    subprocess.run(
        [
            ffmpeg_exe(),
            "-hide_banner",
            "-nostdin",
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=160x120:rate=10",
            "-i",
            str(src_wav),
            "-map",
            "0:v",
            "-map",
            "1:a",
            "-shortest",
            "-c:v",
            "mpeg4" if dst.suffix in (".mp4", ".mkv") else "libvpx",
            *audio_args,
            str(dst),
        ],
        check=True,
    )
    return dst


def video_without_audio(dst: Path, seconds: float = 2.0) -> Path:
    subprocess.run(
        [
            ffmpeg_exe(),
            "-hide_banner",
            "-nostdin",
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            f"testsrc=size=160x120:rate=10:duration={seconds}",
            "-c:v",
            "mpeg4",
            str(dst),
        ],
        check=True,
    )
    return dst


def truncate(src: Path, dst: Path, keep: float = 0.5) -> Path:
    data = src.read_bytes()
    dst.write_bytes(data[: int(len(data) * keep)])
    return dst
