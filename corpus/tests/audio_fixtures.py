"""Test recordings built from real speech, with known speech extents.

`build_speech_track` joins RAVDESS utterances (real recorded speech) with gaps of white noise and
lays the same noise bed under the whole track, so it sounds like a (quiet) broadcast. Because each
utterance is trimmed of its leading and trailing silence before it is placed, the true speech
regions are known to the sample. The VAD tests, the Django ingest tests and the VAD benchmark all
build their audio here.

How the truth is defined (so that it can be reproduced and argued about):

* each utterance is trimmed with ``librosa.effects.trim(top_db=30, frame_length=512,
  hop_length=128)``: speech is everything between the first and the last 32 ms frame (8 ms hop)
  whose RMS is within 30 dB of the utterance's loudest frame;
* the trimmed utterance is then scaled to an RMS of ``speech_dbfs`` (-23 dBFS by default, the
  EBU R128 broadcast loudness; the scale is capped so that peaks stay at or below -1 dBFS).
  RAVDESS levels differ by more than 30 dB between actors and takes (peak -0.2 to -31 dBFS);
  unscaled, the quietest utterances sit only a few dB above a -45 dBFS noise bed, where their
  "true" trimmed ends are below the noise and cannot be found by any detector. Pass
  ``speech_dbfs=None`` to keep the original levels;
* gaps are drawn uniformly from ``gap_range``; a gap also precedes the first and follows the last
  utterance. The noise bed (white, RMS ``noise_dbfs``, seeded) covers the whole track, speech
  included.

The data directory is ``<repo>/../shared/data`` (``TUNISER_DATA_DIR`` overrides it). The audio is
read in place and never copied into the repository.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

import numpy as np

from core.constants import SAMPLE_RATE

REPO_ROOT = Path(__file__).resolve().parents[2]
TRIM_TOP_DB = 30.0


def default_data_dir() -> Path:
    """The shared test-data directory (env ``TUNISER_DATA_DIR`` wins)."""
    env = os.environ.get("TUNISER_DATA_DIR")
    if env:
        return Path(env).expanduser().resolve()
    return (REPO_ROOT.parent / "shared" / "data").resolve()


def _resolve_data_dir(path: Path | str | None) -> Path:
    if os.environ.get("TUNISER_DATA_DIR"):
        return default_data_dir()
    if path is None:
        return default_data_dir()
    path = Path(path)
    if not path.is_absolute():
        # relative paths are relative to the repository root, not to the current directory
        path = REPO_ROOT / path
    return path.resolve()


def ravdess_files(root: Path | None = None) -> list[Path]:
    root = _resolve_data_dir(root)
    files = sorted((root / "ravdess").glob("*.flac"))
    if not files:
        raise FileNotFoundError(f"no RAVDESS files under {root / 'ravdess'} (set TUNISER_DATA_DIR)")
    return files


def long_recording(name: str, root: Path | None = None) -> Path:
    """Path of one of the long recordings, e.g. ``silero_test_60s_16k.wav``."""
    path = _resolve_data_dir(root) / "long" / name
    if not path.exists():
        raise FileNotFoundError(path)
    return path


def load_audio(path: Path | str) -> tuple[np.ndarray, int]:
    """Mono float32 samples and the file's sample rate."""
    import soundfile as sf

    x, sr = sf.read(str(path), dtype="float32", always_2d=True)
    return np.ascontiguousarray(x.mean(axis=1), dtype=np.float32), int(sr)


@lru_cache(maxsize=4096)
def _trimmed_utterance(path: str) -> tuple[np.ndarray, int]:
    import librosa

    x, sr = load_audio(path)
    if sr != SAMPLE_RATE:
        from scipy.signal import resample_poly

        g = np.gcd(sr, SAMPLE_RATE)
        x = resample_poly(x, SAMPLE_RATE // g, sr // g).astype(np.float32)
    _, (a, b) = librosa.effects.trim(x, top_db=TRIM_TOP_DB, frame_length=512, hop_length=128)
    y = x[a:b].copy()
    y.setflags(write=False)
    return y, SAMPLE_RATE


def pick_utterances(n: int, seed: int = 0, root: Path | None = None) -> list[Path]:
    """A deterministic choice of ``n`` RAVDESS files spread over the actors."""
    files = ravdess_files(root)
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(files), size=min(n, len(files)), replace=False)
    return [files[i] for i in idx]


def build_speech_track(
    n_utterances: int = 60,
    seed: int = 0,
    gap_range: tuple[float, float] = (0.3, 2.0),
    noise_dbfs: float = -45.0,
    data_dir: Path | str | None = Path("../shared/data"),
    speech_dbfs: float | None = -23.0,
    edge_gaps: bool = True,
) -> tuple[np.ndarray, int, list[tuple[float, float]]]:
    """Join ``n_utterances`` trimmed RAVDESS utterances with noise gaps.

    Returns ``(samples, sample_rate, true_regions)``: float32 mono samples at 16 kHz and the
    (start, end) seconds of every utterance. ``gap_range=(0, 0)`` concatenates the utterances with
    no gap at all (one long stretch of continuous speech, used for the long-region split test);
    the true regions then touch each other. ``edge_gaps=False`` starts and ends the track on
    speech. See the module docstring for how the truth is defined.
    """
    rng = np.random.default_rng(seed)
    paths = pick_utterances(n_utterances, seed=seed, root=data_dir)
    lo, hi = float(gap_range[0]), float(gap_range[1])
    if lo < 0 or hi < lo:
        raise ValueError(f"bad gap_range {gap_range}")

    def gap() -> int:
        return int(round(rng.uniform(lo, hi) * SAMPLE_RATE))

    pieces: list[np.ndarray] = []
    truth: list[tuple[float, float]] = []
    pos = 0
    if edge_gaps:
        g = gap()
        pieces.append(np.zeros(g, np.float32))
        pos += g
    for i, path in enumerate(paths):
        utt, _ = _trimmed_utterance(str(path))
        utt = utt.astype(np.float32)
        if speech_dbfs is not None:
            rms = float(np.sqrt(np.mean(utt.astype(np.float64) ** 2)))
            gain = 10 ** (speech_dbfs / 20) / max(rms, 1e-9)
            gain = min(gain, 10 ** (-1 / 20) / max(float(np.abs(utt).max()), 1e-9))
            utt = utt * np.float32(gain)
        pieces.append(utt)
        truth.append((pos / SAMPLE_RATE, (pos + len(utt)) / SAMPLE_RATE))
        pos += len(utt)
        if i < len(paths) - 1 or edge_gaps:
            g = gap()
            pieces.append(np.zeros(g, np.float32))
            pos += g
    track = np.concatenate(pieces) if pieces else np.zeros(0, np.float32)
    noise = rng.standard_normal(len(track)).astype(np.float32) * np.float32(10 ** (noise_dbfs / 20))
    track = np.clip(track + noise, -1.0, 1.0).astype(np.float32)
    return track, SAMPLE_RATE, truth


def white_noise(
    seconds: float, dbfs: float = -45.0, seed: int = 0, sample_rate: int = SAMPLE_RATE
) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n = int(round(seconds * sample_rate))
    return (rng.standard_normal(n) * 10 ** (dbfs / 20)).astype(np.float32)
