"""Audio decoding and writing.

Decoding goes through ffmpeg, the binary the `imageio-ffmpeg` wheel ships (no system ffmpeg is
needed). Clips are written with pydub, the project's audio-handling library, from the decoded
16-bit PCM: slicing is exact to the sample and needs no second decode.
"""

from __future__ import annotations

import io
import re
import subprocess
import warnings
import wave
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
import soundfile as sf
from django.core.files.storage import default_storage

from core.constants import SAMPLE_RATE

with warnings.catch_warnings():
    # pydub looks for ffmpeg on PATH at import; we hand it imageio-ffmpeg's binary instead.
    warnings.simplefilter("ignore", RuntimeWarning)
    from pydub import AudioSegment


class AudioError(Exception):
    """A file that cannot become normalised audio. The message is shown to users as it is."""


@cache
def ffmpeg_exe() -> str:
    """Path of the ffmpeg binary the `imageio-ffmpeg` wheel ships (resolved once, and handed to
    pydub as its converter)."""
    import imageio_ffmpeg

    exe = imageio_ffmpeg.get_ffmpeg_exe()
    AudioSegment.converter = exe  # pydub decodes through the same binary when it must
    return exe


@dataclass(frozen=True)
class ProbeResult:
    """What a file's header says: container, duration in seconds, and its first audio stream
    (codec, sample rate in Hz, channel count; None where ffmpeg reports none)."""

    container: str
    duration_s: float | None
    audio_codec: str | None
    sample_rate: int | None
    channels: int | None
    has_video: bool


_DURATION = re.compile(r"Duration: (\d+):(\d\d):(\d\d(?:\.\d+)?)")
_INPUT = re.compile(r"Input #0, ([^,]+(?:,[^,]+)*?), from")
_AUDIO = re.compile(r"Stream #0:\d+(?:\[\w+\])?(?:\(\w+\))?: Audio: ([^,\s]+)[^\n]*?, (\d+) Hz, ([^,\n]+)")
_VIDEO = re.compile(r"Stream #0:\d+(?:\[\w+\])?(?:\(\w+\))?: Video: (?!mjpeg|png)")
_CHANNELS = {"mono": 1, "stereo": 2, "2.1": 3, "quad": 4, "5.0": 5, "5.1": 6, "6.1": 7, "7.1": 8}


def _channels(layout: str) -> int | None:
    layout = layout.strip().split("(")[0]
    if layout in _CHANNELS:
        return _CHANNELS[layout]
    match = re.match(r"(\d+) channels", layout)
    return int(match.group(1)) if match else None


def probe(path: Path) -> ProbeResult:
    """Read the container header with `ffmpeg -i` (ffprobe is not shipped by imageio-ffmpeg).

    Args:
        path: a local file.
    Returns:
        ProbeResult parsed from ffmpeg's banner: `audio_codec` etc. None for a file with no
        audio stream; `has_video` ignores cover art (mjpeg, png streams).
    Raises:
        AudioError: ffmpeg recognises no format in the file.
        subprocess.TimeoutExpired: ffmpeg ran more than 120 s.
    """
    proc = subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", str(path)],
        capture_output=True,
        text=True,
        errors="replace",
        timeout=120,
    )
    err = proc.stderr
    if "Invalid data found when processing input" in err or "Input #0" not in err:
        raise AudioError(
            "Not a readable audio or video file: ffmpeg recognises no format in it "
            "(not audio, or corrupt or truncated)."
        )
    container = (_INPUT.search(err).group(1) if _INPUT.search(err) else "").strip()
    duration = None
    if m := _DURATION.search(err):
        duration = int(m.group(1)) * 3600 + int(m.group(2)) * 60 + float(m.group(3))
    audio = _AUDIO.search(err)
    return ProbeResult(
        container=container,
        duration_s=duration,
        audio_codec=audio.group(1) if audio else None,
        sample_rate=int(audio.group(2)) if audio else None,
        channels=_channels(audio.group(3)) if audio else None,
        has_video=bool(_VIDEO.search(err)),
    )


def decode_to_wav(src: Path, dst: Path, *, timeout_s: float = 3600) -> tuple[ProbeResult, float]:
    """Decode the first audio stream of `src` to 16 kHz mono 16-bit WAV at `dst`.

    A file already 16 kHz mono WAV/FLAC is copied through libsndfile with no ffmpeg process;
    anything else is probed, then decoded by ffmpeg (first audio stream, downmixed, resampled).

    Args:
        src: the local file to decode.
        dst: where to write the WAV (overwritten; removed again on failure).
        timeout_s: seconds the ffmpeg decode may run.
    Returns:
        (probe, duration_s): the ProbeResult and the decoded duration in seconds.
    Raises:
        AudioError, with a message fit for the user: no audio track, an undecodable or corrupt
            file, zero samples, a decode over `timeout_s`, or a truncated file (decoded more than
            max(0.5 s, 2 %) shorter than the header announces).
        subprocess.TimeoutExpired: the probe itself ran over 120 s.
    """
    fast = _decode_native(src, dst)
    if fast is not None:
        return fast
    info = probe(src)
    if info.audio_codec is None:
        what = "This video has no audio track" if info.has_video else "This file has no audio stream"
        raise AudioError(f"{what}: there is nothing to segment.")
    cmd = [
        ffmpeg_exe(),
        "-hide_banner",
        "-nostdin",
        "-v",
        "error",
        "-xerror",
        "-i",
        str(src),
        "-map",
        "0:a:0",
        "-vn",
        "-sn",
        "-dn",
        "-ac",
        "1",
        "-ar",
        str(SAMPLE_RATE),
        "-c:a",
        "pcm_s16le",
        "-f",
        "wav",
        "-y",
        str(dst),
    ]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, errors="replace", timeout=timeout_s)
    except subprocess.TimeoutExpired as exc:
        dst.unlink(missing_ok=True)
        raise AudioError(f"Decoding took longer than {timeout_s:.0f} s and was stopped.") from exc
    if proc.returncode != 0:
        dst.unlink(missing_ok=True)
        raise AudioError(
            f"The audio is corrupt or truncated and could not be decoded ({_ffmpeg_reason(proc)})."
        )
    frames = sf.info(str(dst)).frames
    decoded = frames / SAMPLE_RATE
    if frames == 0:
        dst.unlink(missing_ok=True)
        raise AudioError("The file decodes to no audio samples (zero length).")
    if info.duration_s and decoded < info.duration_s - max(0.5, 0.02 * info.duration_s):
        dst.unlink(missing_ok=True)
        raise AudioError(
            f"The file is truncated: its header announces {info.duration_s:.1f} s of audio "
            f"but only {decoded:.1f} s could be decoded."
        )
    return info, decoded


def _decode_native(src: Path, dst: Path) -> tuple[ProbeResult, float] | None:
    """Fast path for files that are already 16 kHz mono WAV/FLAC (imported corpora): a copy
    through libsndfile, no ffmpeg process. Anything else, or any read error, goes to ffmpeg."""
    try:
        info = sf.info(str(src))
        if (
            info.samplerate != SAMPLE_RATE
            or info.channels != 1
            or info.format not in ("WAV", "FLAC")
            or not info.frames
        ):
            return None
        data, _ = sf.read(str(src), dtype="int16")
    except (RuntimeError, sf.LibsndfileError, ValueError):
        return None
    if len(data) != info.frames or (info.format == "WAV" and _wav_header_frames(src) != info.frames):
        return None  # truncated: let ffmpeg name the problem
    sf.write(str(dst), data, SAMPLE_RATE, subtype="PCM_16", format="WAV")
    codec = "flac" if info.format == "FLAC" else f"pcm_{info.subtype.lower()}"
    probe = ProbeResult(info.format.lower(), info.duration, codec, SAMPLE_RATE, 1, False)
    return probe, len(data) / SAMPLE_RATE


def _wav_header_frames(path: Path) -> int | None:
    """Frames the WAV header announces (libsndfile counts what is actually there)."""
    try:
        with wave.open(str(path), "rb") as w:
            return w.getnframes()
    except (wave.Error, EOFError):
        return None


def _ffmpeg_reason(proc: subprocess.CompletedProcess) -> str:
    """ffmpeg's last error line without its internal addresses, e.g. 'Invalid data found ...'."""
    lines = [line for line in proc.stderr.strip().splitlines() if line.strip()]
    if not lines:
        return f"ffmpeg exit code {proc.returncode}"
    line = re.sub(r"\[[^\]]*@ 0x[0-9a-f]+\]\s*", "", lines[-1]).strip()
    if match := re.search(r"return code -?\d+ \((.+)\)", line):
        return match.group(1)
    return line


def read_pcm16(fileobj) -> np.ndarray:
    """The normalised WAV as int16 samples (the storage layer hands us a file object).

    Args:
        fileobj: a binary file object holding a WAV (or any libsndfile format).
    Returns:
        int16 array (n,) at 16 kHz.
    Raises:
        AudioError: the file is not 16 kHz mono.
        soundfile.LibsndfileError: the file is not readable audio.
    """
    data, rate = sf.read(fileobj, dtype="int16", always_2d=False)
    if rate != SAMPLE_RATE or data.ndim != 1:
        raise AudioError(f"Expected a 16 kHz mono WAV, got {rate} Hz with shape {data.shape}.")
    return data


def clip_wav_bytes(segment: AudioSegment, start_s: float, end_s: float) -> bytes:
    """Cut [start_s, end_s) out of the decoded recording and return it as a 16 kHz mono WAV.

    Args:
        segment: the whole recording, from `pcm16_segment`.
        start_s: start in seconds (rounded to the millisecond, pydub's slicing unit).
        end_s: end in seconds (rounded likewise; clamped by pydub to the recording's end).
    Returns:
        The bytes of a 16-bit PCM WAV at the segment's rate and channels.
    """
    buf = io.BytesIO()
    segment[int(round(start_s * 1000)) : int(round(end_s * 1000))].export(buf, format="wav")
    return buf.getvalue()


def pcm16_segment(samples: np.ndarray) -> AudioSegment:
    """Wrap int16 samples (n,) of 16 kHz mono audio as a pydub AudioSegment, for `clip_wav_bytes`."""
    return AudioSegment(
        data=samples.astype("<i2").tobytes(), sample_width=2, frame_rate=SAMPLE_RATE, channels=1
    )


def stored_file_reader() -> Callable[[str], bytes]:
    """A function that reads a stored file's bytes by storage name (a clip's `audio.name`).

    On a filesystem storage it reads straight from disk, resolving the storage root once (the
    storage API's per-call path checks cost more than reading a one-second clip); on an object
    store it goes through the storage API.

    Returns:
        `read(name) -> bytes`; it raises FileNotFoundError for a missing file.
    """
    try:
        root = Path(default_storage.path(""))
    except NotImplementedError:

        def read(name: str) -> bytes:
            with default_storage.open(name, "rb") as fh:
                return fh.read()

        return read
    return lambda name: (root / name).read_bytes()


def stored_clip_samples(name: str, *, read: Callable[[str], bytes] | None = None) -> tuple[np.ndarray, int]:
    """The one reader of a stored clip's audio (clips, release items, pre-labelling, training).

    Args:
        name: the clip's storage name (`clip.audio.name`).
        read: a reader from `stored_file_reader` (pass one when reading many clips).
    Returns:
        (samples, rate): float32 array (n,) in [-1, 1], 16 kHz mono for every clip the platform
        cut; the rate as stored.
    Raises:
        FileNotFoundError: the file is missing from the storage.
        soundfile.LibsndfileError: the file is not a readable WAV.
    """
    data = (read or stored_file_reader())(name)
    samples, rate = sf.read(io.BytesIO(data), dtype="float32")
    return samples, int(rate)
