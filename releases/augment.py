"""Augmented copies of training clips, for the "oversample" strategy (see balance.plan_oversampling).

audiomentations (0.43) has no per-transform seed: it draws its parameters from Python's `random`
and its noise from numpy's global RNG. `augmented_copy` therefore seeds both from (seed,
copy_index) for the length of one call and restores their previous state afterwards, under a lock
so that two threads of one process cannot interleave their draws.
"""

from __future__ import annotations

import random
import threading
from contextlib import contextmanager

import numpy as np
from audiomentations import AddGaussianNoise, Compose, Gain, PitchShift, Shift

_GLOBAL_RNG_LOCK = threading.Lock()


def augmenter() -> Compose:
    """The chain applied to a copy, with parameters mild enough to keep the emotion audible.

    Pitch moves at most 2 semitones (pitch is itself an emotion cue), the time shift at most 10%
    with zero padding (rollover would splice the end of the utterance onto its start), the gain at
    most 6 dB. Noise is always added, at a low level, so that no copy is bit-identical to its
    source even when no other transform fires.

    Returns:
        A new audiomentations `Compose`: PitchShift (+-2 semitones, p=0.5), Shift (+-10 %, no
        rollover, p=0.5), Gain (+-6 dB, p=0.5), AddGaussianNoise (amplitude 0.001-0.01, p=1).
    """
    return Compose(
        [
            PitchShift(min_semitones=-2.0, max_semitones=2.0, p=0.5),
            Shift(min_shift=-0.1, max_shift=0.1, shift_unit="fraction", rollover=False, p=0.5),
            Gain(min_gain_db=-6.0, max_gain_db=6.0, p=0.5),
            AddGaussianNoise(min_amplitude=0.001, max_amplitude=0.01, p=1.0),
        ]
    )


def copy_seed(seed: int, item_id: int) -> int:
    """A seed for the copies of one item, so that two items' copies n draw different augmentations.

    Args:
        seed: the release's seed (non-negative).
        item_id: the clip id.
    Returns:
        A 32-bit non-negative int from numpy's SeedSequence([seed, item_id]).
    """
    return int(np.random.SeedSequence([seed, item_id]).generate_state(1)[0])


def augmented_copy(samples: np.ndarray, sample_rate: int, *, seed: int, copy_index: int) -> np.ndarray:
    """An augmented copy of `samples` (mono, or channels first): float32 in [-1, 1], same shape.

    The same (seed, copy_index) always gives the same copy; pass `copy_seed(release_seed,
    item.id)` as the seed so that different items do not share augmentation draws.

    Args:
        samples: float audio, (n,) or (channels, n).
        sample_rate: in Hz (16 kHz for the platform's clips).
        seed: a non-negative int (see above).
        copy_index: the copy's number, non-negative.
    Returns:
        float32 array of the same shape, clipped to [-1, 1].
    Raises:
        ValueError: a negative seed or copy_index, or audio that is not 1-D/2-D with samples.
    """
    if seed < 0 or copy_index < 0:
        raise ValueError("seed and copy_index must be non-negative integers.")
    audio = np.ascontiguousarray(samples, dtype=np.float32)
    if audio.ndim not in (1, 2) or audio.shape[-1] == 0:
        raise ValueError(f"Expected mono or channels-first audio with samples, got shape {audio.shape}.")
    state = int(np.random.SeedSequence([seed, copy_index]).generate_state(1)[0])
    with _seeded_global_rngs(state):
        out = augmenter()(samples=audio, sample_rate=sample_rate)
    out = _fit_length(np.asarray(out, dtype=np.float32), audio.shape[-1])
    return np.clip(out, -1.0, 1.0)


@contextmanager
def _seeded_global_rngs(seed: int):
    with _GLOBAL_RNG_LOCK:
        py_state, np_state = random.getstate(), np.random.get_state()
        random.seed(seed)
        np.random.seed(seed)
        try:
            yield
        finally:
            random.setstate(py_state)
            np.random.set_state(np_state)


def _fit_length(audio: np.ndarray, length: int) -> np.ndarray:
    """Trim or zero-pad the last axis to `length` (a guard: the chain is meant to keep length)."""
    if audio.shape[-1] >= length:
        return audio[..., :length]
    pad = [(0, 0)] * (audio.ndim - 1) + [(0, length - audio.shape[-1])]
    return np.pad(audio, pad)


def release_item_samples(
    *, audio_name: str, clip_id: int, copy_index: int, seed: int, read=None
) -> tuple[np.ndarray, int]:
    """The audio of one release item: its clip's samples, augmented for copy n > 0.

    The one reader of release-item audio (exports write it, training decodes it), so that a model
    is trained on exactly the audio the export ships.

    Args:
        audio_name: the clip's storage name.
        clip_id: the clip's id (it seeds the item's copies, `copy_seed`).
        copy_index: 0 for the clip itself, n > 0 for its n-th augmented copy.
        seed: the release's seed.
        read: a reader from `corpus.audio.stored_file_reader` (pass one when reading many).
    Returns:
        (samples, rate): float32 array (n,) in [-1, 1] and its sample rate in Hz.
    Raises:
        FileNotFoundError, soundfile.LibsndfileError: as `corpus.audio.stored_clip_samples`.
    """
    from corpus.audio import stored_clip_samples

    samples, rate = stored_clip_samples(audio_name, read=read)
    if copy_index:
        samples = augmented_copy(samples, rate, seed=copy_seed(seed, clip_id), copy_index=copy_index)
    return samples, rate
