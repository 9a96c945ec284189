"""Audio decoding and writing.

Decoding goes through ffmpeg, the binary the `imageio-ffmpeg` wheel ships (no system ffmpeg is
needed). Clips are written with pydub, the project's audio-handling library, from the decoded
16-bit PCM: slicing is exact to the sample and needs no second decode.
"""

from __future__ import annotations

import io
import math
import re
import subprocess
import tempfile
import threading
import warnings
import wave
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
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
class AudioTrack:
    """One audio stream of a file, as ffmpeg's banner describes it.

    Attributes:
        index: the stream's index in the file (ffmpeg's `#0:<index>`).
        position: its position among the file's audio streams (0-based; ffmpeg's `0:a:<n>`):
            what a user names with `--track` / `audio_track`.
        codec: ffmpeg's codec name ("aac", "ac3", "mp2", "pcm_s16le").
        sample_rate: Hz, or None if ffmpeg does not say.
        channels: channel count, or None.
        layout: ffmpeg's channel layout name ("stereo", "5.1(side)").
        language: the container's language tag as given ("ara", "fre"), "" if none.
        default: the stream carries the default disposition.
        title: the stream's title tag, "" if none.
    """

    index: int
    position: int
    codec: str
    sample_rate: int | None
    channels: int | None
    layout: str
    language: str
    default: bool
    title: str

    def as_dict(self) -> dict:
        """JSON-ready fields (stored on the Recording)."""
        return asdict(self)


@dataclass(frozen=True)
class ProbeResult:
    """What a file's header says: container, duration in seconds, every audio stream, and the
    first audio stream's codec, sample rate in Hz and channel count (None where there is none).

    `duration_reliable` is False when ffmpeg had to estimate the duration from the bitrate (a WAV
    written to a pipe, a VBR mp3 without a Xing header): such a header cannot judge truncation.
    """

    container: str
    duration_s: float | None
    audio_codec: str | None
    sample_rate: int | None
    channels: int | None
    has_video: bool
    tracks: tuple[AudioTrack, ...] = ()
    duration_reliable: bool = True


_DURATION = re.compile(r"Duration: (\d+):(\d\d):(\d\d(?:\.\d+)?)")
_INPUT = re.compile(r"Input #0, ([^,]+(?:,[^,]+)*?), from")
_STREAM = re.compile(
    r"^\s*Stream #0:(\d+)(?:\[0x[0-9a-fA-F]+\])?(?:\((\w+)\))?: (Audio|Video|Subtitle|Data|Attachment): (.*)$"
)
_TITLE = re.compile(r"^\s+title\s*: (.*)$")
_CHANNELS = {
    "mono": 1,
    "stereo": 2,
    "2.1": 3,
    "3.0": 3,
    "3.0(back)": 3,
    "4.0": 4,
    "quad": 4,
    "quad(side)": 4,
    "5.0": 5,
    "5.0(side)": 5,
    "5.1": 6,
    "5.1(side)": 6,
    "6.1": 7,
    "7.1": 8,
    "7.1(wide)": 8,
}
# Layouts whose third channel (ffmpeg's order) is the front centre, where film and TV put dialogue.
CENTRE_LAYOUTS = {"3.0", "4.0", "5.0", "5.0(side)", "5.1", "5.1(side)", "6.1", "7.1", "7.1(wide)"}


def _channels(layout: str) -> int | None:
    layout = layout.strip()
    if layout in _CHANNELS:
        return _CHANNELS[layout]
    match = re.match(r"(\d+) channels", layout)
    return int(match.group(1)) if match else None


def _audio_track(index: int, position: int, language: str | None, rest: str, line: str) -> AudioTrack:
    parts = [p.strip() for p in rest.split(",")]
    codec = parts[0].split(" ")[0] if parts else ""
    rate, layout = None, ""
    for i, part in enumerate(parts):
        if m := re.fullmatch(r"(\d+) Hz", part):
            rate = int(m.group(1))
            layout = parts[i + 1] if i + 1 < len(parts) else ""
            break
    return AudioTrack(
        index=index,
        position=position,
        codec=codec,
        sample_rate=rate,
        channels=_channels(layout),
        layout=layout,
        language=(language or "").lower() if (language or "").lower() != "und" else "",
        default="(default)" in line,
        title="",
    )


def probe(path: Path) -> ProbeResult:
    """Read the container header with `ffmpeg -i` (ffprobe is not shipped by imageio-ffmpeg).

    Args:
        path: a local file.
    Returns:
        ProbeResult parsed from ffmpeg's banner, every audio stream in `tracks` (with its
        language tag, default flag and title); `audio_codec` etc. describe the first audio stream
        and are None for a file with none; `has_video` ignores cover art (mjpeg, png streams).
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
    tracks: list[AudioTrack] = []
    has_video = False
    current: AudioTrack | None = None
    for line in err.splitlines():
        if m := _STREAM.match(line):
            index, language, kind, rest = int(m.group(1)), m.group(2), m.group(3), m.group(4)
            current = None
            if kind == "Audio":
                current = _audio_track(index, len(tracks), language, rest, line)
                tracks.append(current)
            elif kind == "Video" and not re.match(r"(mjpeg|png)\b", rest):
                has_video = True
        elif current is not None and (t := _TITLE.match(line)):
            tracks[-1] = current = replace(current, title=t.group(1).strip())
        elif not line.startswith("    "):
            current = None
    first = tracks[0] if tracks else None
    return ProbeResult(
        container=container,
        duration_s=duration,
        audio_codec=first.codec if first else None,
        sample_rate=first.sample_rate if first else None,
        channels=first.channels if first else None,
        has_video=has_video,
        tracks=tuple(tracks),
        duration_reliable="Estimating duration from bitrate" not in err and "Ignoring maximum wav" not in err,
    )


# Language tags that name the same language (ISO 639-1, 639-2/B, 639-2/T, 639-3 varieties).
LANGUAGE_ALIASES = {
    "ara": {"ara", "ar", "arb", "aeb", "arq", "ary", "arz", "apc", "acm"},  # Tunisian Arabic: aeb
    "fre": {"fre", "fra", "fr"},
    "eng": {"eng", "en"},
    "ger": {"ger", "deu", "de"},
    "spa": {"spa", "es"},
    "ita": {"ita", "it"},
    "tur": {"tur", "tr"},
}


def language_matches(tag: str, wanted: str) -> bool:
    """True if container tag `tag` names language `wanted` (any of its ISO 639 codes)."""
    tag, wanted = tag.lower(), wanted.lower()
    for codes in LANGUAGE_ALIASES.values():
        if wanted in codes:
            return tag in codes
    return tag == wanted


def choose_track(
    tracks: tuple[AudioTrack, ...], *, requested: int | None = None, languages: tuple[str, ...] = ("ara",)
) -> tuple[AudioTrack, str]:
    """The audio track to segment, and why it was chosen.

    Order: the track the user named (`requested`, a position among audio tracks) -> the first
    track in one of the project's `languages` -> the default-flagged track -> the first.

    Returns:
        (track, reason): reason is "requested", "language", "default" or "first".
    Raises:
        AudioError: no audio track at all, or `requested` is not one of the file's tracks.
    """
    if not tracks:
        raise AudioError("This file has no audio stream: there is nothing to segment.")
    if requested is not None:
        if not 0 <= requested < len(tracks):
            have = ", ".join(f"{t.position} ({t.language or 'no language'})" for t in tracks)
            raise AudioError(f"There is no audio track {requested} in this file; its tracks are: {have}.")
        return tracks[requested], "requested"
    for wanted in languages:
        for track in tracks:
            if track.language and language_matches(track.language, wanted):
                return track, "language"
    for track in tracks:
        if track.default:
            return track, "default"
    return tracks[0], "first"


@dataclass(frozen=True)
class Decoded:
    """The outcome of decoding one file to the platform's 16 kHz mono WAV.

    Attributes:
        probe: what the header said.
        duration_s: the decoded duration in seconds (what decodes, not what the header says).
        track: the audio track decoded (None for the native fast path of 16 kHz mono files).
        track_reason: why that track ("requested", "language", "default", "first", "only").
        downmix: how the channels became one ("mono", "mean", "centre", "channel <n>: ...").
        warnings: decode problems that did not stop it ("1.2 s of damaged audio skipped ...").
    """

    probe: ProbeResult
    duration_s: float
    track: AudioTrack | None = None
    track_reason: str = "only"
    downmix: str = "mono"
    warnings: tuple[str, ...] = ()


# The mono mix is "cancelled" when it is this much quieter than the loudest channel.
CANCELLED_MIX_DB = 12.0
# A recording is refused when less than this share of a reliable container duration decodes.
MIN_DECODED_SHARE = 0.5


def decode_to_wav(
    src: Path,
    dst: Path,
    *,
    timeout_s: float = 3600,
    track: int | None = None,
    languages: tuple[str, ...] = ("ara",),
    info: ProbeResult | None = None,
) -> Decoded:
    """Decode one audio track of `src` to 16 kHz mono 16-bit WAV at `dst`.

    1. A file already 16 kHz mono WAV/FLAC is copied through libsndfile (no ffmpeg process).
    2. Otherwise probe every audio stream and choose one (`choose_track`).
    3. Decode it with ffmpeg to 16 kHz, keeping its channels, skipping damaged packets (not
       refusing the file for them) and counting the decoder's errors.
    4. Downmix to mono without cancelling speech: the mean of the channels (for layouts with a
       front centre, the centre plus half of front left and right, where dialogue lives), unless
       that mix is more than CANCELLED_MIX_DB quieter than the loudest channel (phase-inverted
       or mid/side material): then the loudest channel alone.
    5. Judge truncation from the decoder, not from an estimated header: a reliable container
       duration (not estimated from the bitrate) that decodes more than max(0.5 s, 2 %) short
       is truncated when the decoder also reported errors or little of it decodes; otherwise a
       shortfall with decoder errors is kept as a warning.

    Args:
        src: the local file to decode (the extension is only a hint: content decides).
        dst: where to write the WAV (overwritten; removed again on failure).
        timeout_s: seconds the ffmpeg decode may run.
        track: the audio track to decode (position among audio tracks), or None to choose.
        languages: the project's languages, for choosing a track (ISO 639 codes).
        info: the file's ProbeResult, if the caller probed it already.
    Returns:
        Decoded: probe, decoded duration, track, downmix and warnings.
    Raises:
        AudioError, with a message fit for the user: no audio stream, no such track, an
            undecodable or corrupt file, zero samples, a decode over `timeout_s`, or a
            truncated file.
        subprocess.TimeoutExpired: the probe itself ran over 120 s.
    """
    if track is None:
        fast = _decode_native(src, dst)
        if fast is not None:
            return Decoded(probe=info or fast[0], duration_s=fast[1])
    info = info or probe(src)
    if not info.tracks:
        what = "This video has no audio track" if info.has_video else "This file has no audio stream"
        raise AudioError(f"{what}: there is nothing to segment.")
    chosen, reason = choose_track(info.tracks, requested=track, languages=languages)
    if len(info.tracks) == 1 and reason != "requested":
        reason = "only"
    try:
        result = _ffmpeg_decode(src, dst, chosen, channel=None, timeout_s=timeout_s)
        errors = [line for line in result.stderr.splitlines() if line.strip()]
        if result.returncode != 0:
            reason = _ffmpeg_reason(result.returncode, result.stderr)
            raise AudioError(f"The audio is corrupt or truncated and could not be decoded ({reason}).")
        frames = result.frames
        if frames == 0:
            raise AudioError("The file decodes to no audio samples (zero length).")
        decoded = frames / SAMPLE_RATE
        warnings_: list[str] = []
        expected = _declared_duration(src, info)
        short = bool(expected) and decoded < expected - max(0.5, 0.02 * expected)
        stream = any(name in info.container for name in STREAM_CONTAINERS)
        if short and (not stream or decoded < MIN_DECODED_SHARE * expected):
            raise AudioError(
                f"The file is truncated: its header announces {expected:.1f} s of audio but only "
                f"{decoded:.1f} s could be decoded (corrupt or truncated audio)."
            )
        if short or errors:
            n = f"{len(errors)} decoder error{'s' if len(errors) != 1 else ''}"
            if short:
                warnings_.append(f"{expected - decoded:.1f} s of damaged audio skipped ({n}).")
            else:
                warnings_.append(f"Damaged packets skipped ({n}).")
        downmix = _downmix_check(src, dst, chosen, result, timeout_s=timeout_s)
        return Decoded(
            probe=info,
            duration_s=decoded,
            track=chosen,
            track_reason=reason,
            downmix=downmix,
            warnings=tuple(warnings_),
        )
    except BaseException:
        dst.unlink(missing_ok=True)
        raise


# Broadcast streams (DVB/IPTV transport streams, program streams, MXF): a damaged packet is
# skipped and reported, not a reason to refuse the recording.
STREAM_CONTAINERS = ("mpegts", "mpeg", "mxf", "vob")


def _declared_duration(src: Path, info: ProbeResult) -> float | None:
    """The duration the file reliably declares, or None when it declares none it can be held to.

    WAV: the RIFF data-chunk size (0 or 0xFFFFFFFF mean "written to a pipe": unknown), read
    from the file itself because ffmpeg estimates from the bytes present when the size exceeds
    them. Audio files: ffmpeg's duration unless ffmpeg said it estimated it from the bitrate (a
    VBR mp3 without a Xing header). Video files: none (the duration is the video's).
    """
    if info.container.split(",")[0] == "wav":
        return _wav_declared_duration(src)
    if info.has_video:
        return None  # the container's duration is the video's; its audio may end sooner
    return info.duration_s if info.duration_reliable else None


def _wav_declared_duration(src: Path) -> float | None:
    try:
        with open(src, "rb") as fh:
            head = fh.read(1 << 16)
    except OSError:
        return None
    if head[:4] not in (b"RIFF", b"RF64") or head[8:12] != b"WAVE":
        return None
    pos, block_align, rate = 12, None, None
    while pos + 8 <= len(head):
        chunk, size = head[pos : pos + 4], int.from_bytes(head[pos + 4 : pos + 8], "little")
        if chunk == b"fmt " and pos + 24 <= len(head):
            rate = int.from_bytes(head[pos + 12 : pos + 16], "little")
            block_align = int.from_bytes(head[pos + 20 : pos + 22], "little")
        if chunk == b"data":
            if size in (0, 0xFFFFFFFF) or not rate or not block_align:
                return None
            return size / block_align / rate
        pos += 8 + size + (size & 1)
    return None


_BLOCK = SAMPLE_RATE * 60  # frames per block read from ffmpeg: memory stays flat for long files


def _channel_count(track: AudioTrack) -> int:
    return track.channels or _channels(track.layout) or 1


def _mix_weights(track: AudioTrack, channels: int) -> np.ndarray:
    """Gains (channels,) of the mono mix: the centre plus half of front left and right where the
    layout has a front centre (ffmpeg's third channel, where film and TV put dialogue), else the
    mean of the channels."""
    if channels >= 3 and track.layout in CENTRE_LAYOUTS:
        w = np.zeros(channels, dtype=np.float32)
        w[:3] = (0.25, 0.25, 0.5)
        return w
    return np.full(channels, 1 / channels, dtype=np.float32)


@dataclass(frozen=True)
class _Decode:
    returncode: int
    stderr: str
    frames: int
    mix_energy: float
    channel_energy: np.ndarray  # (channels,), sum of squares in int16 units


def _ffmpeg_decode(
    src: Path, dst: Path, track: AudioTrack, *, channel: int | None, timeout_s: float
) -> _Decode:
    """Decode `track` of `src` to 16 kHz 16-bit mono WAV at `dst`, in one ffmpeg run.

    ffmpeg resamples the track's channels to 16 kHz and pipes them here; each one-minute block
    is mixed by `_mix_weights` (or reduced to `channel` alone) and written, while the energy of
    every channel and of the mix is summed, so that `_downmix_check` can tell a cancelled mix
    without a second pass over the audio. Damaged packets are skipped by the decoder and logged
    (stderr, error level). Raises AudioError past `timeout_s`.
    """
    n = _channel_count(track)
    cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-v", "error", "-i", str(src)]
    cmd += ["-map", f"0:a:{track.position}", "-vn", "-sn", "-dn", "-ar", str(SAMPLE_RATE)]
    cmd += ["-ac", str(n), "-c:a", "pcm_s16le", "-f", "s16le", "pipe:1"]
    weights = _mix_weights(track, n)
    if channel is not None:
        weights = np.zeros(n, dtype=np.float32)
        weights[channel] = 1.0
    frames, mix_energy, channel_energy = 0, 0.0, np.zeros(n)
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err)
        timed_out = threading.Event()

        def stop() -> None:
            timed_out.set()
            proc.kill()

        timer = threading.Timer(timeout_s, stop)
        timer.start()
        try:
            with sf.SoundFile(
                str(dst), "w", samplerate=SAMPLE_RATE, channels=1, subtype="PCM_16", format="WAV"
            ) as out:
                while raw := proc.stdout.read(_BLOCK * n * 2):
                    raw = raw[: len(raw) - len(raw) % (2 * n)]
                    block = np.frombuffer(raw, dtype="<i2").reshape(-1, n).astype(np.float32)
                    # column by column, not `block @ weights`: a BLAS call would start threads that
                    # compete with the ffmpeg process feeding this loop (measured: 11 s instead
                    # of 7 s for an hour on two cores)
                    mix = np.zeros(len(block), dtype=np.float32)
                    for c in range(n):
                        column = block[:, c]
                        channel_energy[c] += float(np.square(column, dtype=np.float32).sum(dtype=np.float64))
                        if weights[c]:
                            mix += weights[c] * column
                    mix_energy += float(np.square(mix).sum(dtype=np.float64))
                    np.rint(mix, out=mix)
                    out.write(np.clip(mix, -32768, 32767).astype(np.int16))
                    frames += len(mix)
            returncode = proc.wait()
        finally:
            timer.cancel()
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            proc.stdout.close()
        if timed_out.is_set():
            raise AudioError(f"Decoding took longer than {timeout_s:.0f} s and was stopped.")
        err.seek(0)
        stderr = err.read().decode("utf-8", "replace")
    return _Decode(returncode, stderr, frames, mix_energy, channel_energy)


def _downmix_check(src: Path, dst: Path, track: AudioTrack, decoded: _Decode, *, timeout_s: float) -> str:
    """What the mono mix at `dst` was made of; re-decodes the loudest channel alone into `dst`
    when the mix came out more than CANCELLED_MIX_DB quieter than that channel (channels in
    opposite phase, mid/side material): the only case with a second ffmpeg run."""
    n = len(decoded.channel_energy)
    if n == 1:
        return "mono"
    centre = n >= 3 and track.layout in CENTRE_LAYOUTS
    described = "centre + half of front left/right" if centre else f"mean of {n} channels"
    best = int(np.argmax(decoded.channel_energy))
    loudest = float(decoded.channel_energy[best])
    ratio_db = 10 * math.log10(max(decoded.mix_energy, 1e-12) / max(loudest, 1e-12))
    if loudest <= 0 or ratio_db >= -CANCELLED_MIX_DB:
        return described
    again = _ffmpeg_decode(src, dst, track, channel=best, timeout_s=timeout_s)
    if again.returncode != 0 or not again.frames:
        raise AudioError(
            f"The audio could not be decoded ({_ffmpeg_reason(again.returncode, again.stderr)})."
        )
    how = "cancelled out" if ratio_db < -60 else f"came out {-ratio_db:.0f} dB quieter than it"
    return f"channel {best + 1} of {n} alone: the mix of the channels {how} (opposite phase)"


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


def _ffmpeg_reason(returncode: int, stderr: str) -> str:
    """ffmpeg's last error line without its internal addresses, e.g. 'Invalid data found ...'."""
    lines = [line for line in stderr.strip().splitlines() if line.strip()]
    if not lines:
        return f"ffmpeg exit code {returncode}"
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
