"""The splits a training run receives, and their preprocessing (no torch: the classical family
and the Django processes import this without loading torch)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from .audio import SAMPLE_RATE, preprocess


@dataclass
class Dataset:
    """One split of a release, already decoded: float32 mono clips at 16 kHz, int labels (indices
    into the run's label list) and the clip ids they came from (for traceability and to tell
    whether a checkpoint belongs to the same data), and who speaks in each (the voice keys of
    speaker normalisation, `speaker_norm`).

    `samples`: N float32 arrays (n_i,), 16 kHz mono, in [-1, 1] (not checked here); `labels`:
    anything array-like of N ints, stored as int64 (N,); `ids`: N ints, 0..N-1 when left empty;
    `voices`: N voice keys (`corpus.models.voice_key`; "" or None = unknown, stored as ""), all ""
    when left empty.
    Raises ValueError when the lengths differ. `len(ds)` is N.
    """

    samples: list[np.ndarray]
    labels: np.ndarray
    ids: list[int] = field(default_factory=list)
    voices: list[str] = field(default_factory=list)

    def __post_init__(self):
        self.labels = np.asarray(self.labels, dtype=np.int64).reshape(-1)
        if not self.ids:
            self.ids = list(range(len(self.samples)))
        if not len(self.voices):
            self.voices = [""] * len(self.samples)
        self.voices = ["" if v is None else str(v) for v in self.voices]
        if not (len(self.samples) == len(self.labels) == len(self.ids) == len(self.voices)):
            raise ValueError(
                f"Dataset needs as many labels, ids and voices as samples: {len(self.samples)} samples, "
                f"{len(self.labels)} labels, {len(self.ids)} ids, {len(self.voices)} voices"
            )

    def __len__(self) -> int:
        return len(self.samples)


def preprocess_all(
    samples: Sequence[np.ndarray], *, sr: int = SAMPLE_RATE, trim_db: float | None, max_s: float | None
) -> list[np.ndarray]:
    """`audio.preprocess` (resample from `sr` Hz, trim at `trim_db` dB, centre-crop to `max_s`
    seconds) on each clip: a list of float32 (m_i,) arrays at 16 kHz, in the input order."""
    return [preprocess(x, sr, trim_db=trim_db, max_s=max_s) for x in samples]
