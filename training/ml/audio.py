"""Audio decoding and the preprocessing applied identically at training and at inference time.

This module is also copied next to `modeling_tuniser.py` into every exported transformer model
directory (transformers copies the relative imports of remote code), so that the Hugging Face
pipeline trims and crops exactly as training did. It may therefore import only numpy, librosa
and soundfile, and no other module of this package.
"""

from __future__ import annotations

from pathlib import Path

import librosa
import numpy as np
import soundfile as sf

from core.constants import SAMPLE_RATE

# Silence trimming works on 32 ms frames with an 8 ms hop: fine enough not to clip word onsets,
# coarse enough to ignore clicks. `top_db` is relative to the clip's loudest frame.
TRIM_FRAME = 512
TRIM_HOP = 128
# A clip whose non-silent part is shorter than this is kept whole: trimming it would leave too
# little for any feature extractor (and the clip is probably all noise anyway).
MIN_TRIMMED_S = 0.1


def load_audio(path: str | Path) -> np.ndarray:
    """Decode a file to float32 mono at `SAMPLE_RATE` (channels averaged, resampled if needed).

    `path`: any format libsndfile reads (WAV, FLAC, OGG, and MP3 with libsndfile >= 1.1). Returns
    a float32 array (n,) at 16 kHz, nominally in [-1, 1] (resampling may overshoot slightly).
    Raises `soundfile.LibsndfileError` (a RuntimeError) when the file is missing or cannot be
    decoded.
    """
    data, sr = sf.read(str(path), dtype="float32", always_2d=True)
    samples = data.mean(axis=1)
    return to_model_rate(samples, sr)


def to_model_rate(samples: np.ndarray, sr: int) -> np.ndarray:
    """`samples` (mono, `sr` Hz; any array is flattened, so pass one channel) as a contiguous
    float32 array (m,) at `SAMPLE_RATE` (16 kHz), m ~ n * 16000 / sr: unchanged at 16 kHz,
    otherwise `librosa.resample(res_type="soxr_hq")` (the soxr resampler). `sr` must be positive
    (0 raises ZeroDivisionError inside librosa)."""
    samples = np.asarray(samples, dtype=np.float32).reshape(-1)
    if sr != SAMPLE_RATE:
        samples = librosa.resample(samples, orig_sr=sr, target_sr=SAMPLE_RATE, res_type="soxr_hq")
    return np.ascontiguousarray(samples, dtype=np.float32)


def preprocess(
    samples: np.ndarray,
    sr: int = SAMPLE_RATE,
    *,
    trim_db: float | None = 30.0,
    max_s: float | None = None,
) -> np.ndarray:
    """The clip as every model family sees it, in training and at inference.

    `samples`: mono float32 (n,) at `sr` Hz, in [-1, 1]. `trim_db` in dB (relative to the loudest
    frame), `max_s` in seconds. Returns a contiguous float32 array (m,) at 16 kHz, m <=
    round(max_s * 16000) when `max_s` is set; an empty clip stays empty.

    1. Resample to `SAMPLE_RATE` if `sr` differs; float32 mono.
    2. Trim leading and trailing silence with `librosa.effects.trim(top_db=trim_db)` (frames
       quieter than the loudest frame by more than `trim_db` dB); `trim_db=None` disables it. A clip
       that would keep less than 0.1 s is left untrimmed.
    3. If `max_s` is set and the clip is longer, keep its centre `max_s` seconds. The crop is
       deterministic so that a clip always gets the same prediction; training adds randomness with
       the time-shift augmentation instead.
    """
    x = to_model_rate(samples, sr)
    if trim_db is not None and x.size:
        _, (start, end) = librosa.effects.trim(
            x, top_db=trim_db, frame_length=TRIM_FRAME, hop_length=TRIM_HOP
        )
        if end - start >= MIN_TRIMMED_S * SAMPLE_RATE:
            x = x[start:end]
    if max_s is not None:
        limit = int(round(max_s * SAMPLE_RATE))
        if x.size > limit:
            offset = (x.size - limit) // 2
            x = x[offset : offset + limit]
    return np.ascontiguousarray(x, dtype=np.float32)
