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
    whether a checkpoint belongs to the same data)."""

    samples: list[np.ndarray]
    labels: np.ndarray
    ids: list[int] = field(default_factory=list)

    def __post_init__(self):
        self.labels = np.asarray(self.labels, dtype=np.int64).reshape(-1)
        if not self.ids:
            self.ids = list(range(len(self.samples)))
        if not (len(self.samples) == len(self.labels) == len(self.ids)):
            raise ValueError(
                f"Dataset needs as many labels and ids as samples: {len(self.samples)} samples, "
                f"{len(self.labels)} labels, {len(self.ids)} ids"
            )

    def __len__(self) -> int:
        return len(self.samples)


def preprocess_all(
    samples: Sequence[np.ndarray], *, sr: int = SAMPLE_RATE, trim_db: float | None, max_s: float | None
) -> list[np.ndarray]:
    return [preprocess(x, sr, trim_db=trim_db, max_s=max_s) for x in samples]
