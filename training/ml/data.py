"""Augmentation, length bucketing, torch datasets and batch collation for the torch families."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch

from .audio import SAMPLE_RATE


def make_waveform_augmenter(hp: dict) -> Callable[[np.ndarray], np.ndarray] | None:
    """audiomentations on the training waveforms (paper 003's noise, pitch shift, time shift, plus
    gain); each transform applied with its own probability. None when all are off.

    `hp` needs the probabilities (0..1) `aug_noise` (Gaussian noise at 10-40 dB SNR),
    `aug_pitch_shift` (-2..+2 semitones), `aug_time_shift` (-15..+15 % of the clip, the gap
    zero-filled, no rollover) and `aug_gain` (-6..+6 dB); KeyError when one is missing. The
    returned callable maps a float32 (n,) 16 kHz clip to a float32 (n,) clip clipped to [-1, 1].
    Imports audiomentations only when some probability is > 0.
    """
    if not any(hp[k] > 0 for k in ("aug_noise", "aug_pitch_shift", "aug_time_shift", "aug_gain")):
        return None
    import audiomentations as A

    compose = A.Compose(
        [
            A.AddGaussianSNR(min_snr_db=10.0, max_snr_db=40.0, p=hp["aug_noise"]),
            A.PitchShift(min_semitones=-2.0, max_semitones=2.0, p=hp["aug_pitch_shift"]),
            A.Shift(
                min_shift=-0.15, max_shift=0.15, shift_unit="fraction", rollover=False, p=hp["aug_time_shift"]
            ),
            A.Gain(min_gain_db=-6.0, max_gain_db=6.0, p=hp["aug_gain"]),
        ]
    )
    return _Augmenter(compose)


class _Augmenter:
    def __init__(self, compose):
        self.compose = compose

    def __call__(self, x: np.ndarray) -> np.ndarray:
        y = self.compose(samples=x, sample_rate=SAMPLE_RATE)
        return np.clip(y, -1.0, 1.0).astype(np.float32, copy=False)


def spec_augment(
    frames: np.ndarray,
    rng: np.random.Generator,
    *,
    p_time: float,
    p_freq: float,
    time_width: int,
    freq_width: int,
) -> np.ndarray:
    """SpecAugment's time and frequency masks (Park et al. 2019) on a (T, F) feature matrix: with
    probability `p_time` one band of 0..time_width frames, with `p_freq` one band of 0..freq_width
    bins, filled with the clip's mean (so that the mask carries no level information).

    One mask of each kind at most, no time warping; a mask never covers a whole axis. `rng` draws
    everything. Returns a copy of shape (T, F), masked or not as drawn, or `frames` itself when
    both probabilities are 0.
    """
    if p_time <= 0 and p_freq <= 0:
        return frames
    frames = frames.copy()
    fill = frames.mean()
    n_t, n_f = frames.shape
    if p_time > 0 and rng.random() < p_time and n_t > 1:
        w = int(rng.integers(0, min(time_width, n_t - 1) + 1))
        t0 = int(rng.integers(0, n_t - w + 1))
        frames[t0 : t0 + w, :] = fill
    if p_freq > 0 and rng.random() < p_freq and n_f > 1:
        w = int(rng.integers(0, min(freq_width, n_f - 1) + 1))
        f0 = int(rng.integers(0, n_f - w + 1))
        frames[:, f0 : f0 + w] = fill
    return frames


class ClipDataset(torch.utils.data.Dataset):
    """Preprocessed clips -> (features, label). Training clips are augmented on the fly (in the
    DataLoader workers when num_workers > 0); clips that are not augmented are featurised once.

    `waves`: N float32 (n_i,) clips at 16 kHz (`audio.preprocess` output); `labels`: N class
    indices; `featurize(wave, rng)` returns the family's features (`rng` is None when the clips
    are featurised once up front, else a `numpy.random.Generator`); `augment`: a wave ->
    wave callable such as `make_waveform_augmenter` returns. Item i is (features, int label);
    `lengths` is int64 (N,), clip lengths in samples.
    """

    def __init__(
        self,
        waves: list[np.ndarray],
        labels: np.ndarray,
        featurize: Callable,
        *,
        augment: Callable | None = None,
        train: bool = False,
    ):
        self.waves = waves
        self.labels = np.asarray(labels, dtype=np.int64)
        self.featurize = featurize
        self.augment = augment
        self.train = train
        self.lengths = np.array([len(w) for w in waves], dtype=np.int64)
        self._cache: list | None = None
        if not train or (augment is None and not getattr(featurize, "random", False)):
            self._cache = [featurize(w, None) for w in waves]

    def __len__(self) -> int:
        return len(self.waves)

    def __getitem__(self, i: int):
        if self._cache is not None:
            return self._cache[i], int(self.labels[i])
        x = self.waves[i]
        if self.augment is not None:
            x = self.augment(x)
        # numpy's global generator is seeded per DataLoader worker by torch and per run by the
        # engine, so this stays reproducible.
        rng = np.random.default_rng(np.random.randint(0, 2**31 - 1))
        return self.featurize(x, rng), int(self.labels[i])


class BucketBatchSampler(torch.utils.data.Sampler):
    """Batches of clips of similar length (less padding): sort by length, cut into batches, and for
    training shuffle the order of the batches, with a little noise in the sort so that batches
    differ between epochs. Deterministic given (seed, epoch), so a resumed run sees the same order.

    `lengths`: (N,) clip lengths (any unit, samples here); `batch_size` in clips (the batch of the
    longest clips may be smaller); the sort noise multiplies each length by 0.9..1.1.
    """

    def __init__(self, lengths: np.ndarray, batch_size: int, *, shuffle: bool, seed: int = 0):
        self.lengths = np.asarray(lengths, dtype=np.float64)
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Use `epoch` (0-based) for the next shuffle, as DistributedSampler does."""
        self.epoch = epoch

    def batches(self) -> list[list[int]]:
        """This epoch's batches: lists of dataset indices, each index exactly once."""
        if self.shuffle:
            rng = np.random.default_rng([self.seed, self.epoch])
            keys = self.lengths * rng.uniform(0.9, 1.1, size=self.lengths.size)
            order = np.argsort(keys, kind="stable")
        else:
            order = np.argsort(self.lengths, kind="stable")
        batches = [order[i : i + self.batch_size].tolist() for i in range(0, order.size, self.batch_size)]
        if self.shuffle:
            rng.shuffle(batches)
        return batches

    def __iter__(self):
        return iter(self.batches())

    def __len__(self) -> int:
        return math.ceil(self.lengths.size / self.batch_size)


# --- per-family featurisation and collation (top-level classes: picklable for worker processes)


class WaveFeatures:
    """Transformer family: the model reads the waveform itself, so a float32 (n,) 16 kHz clip is
    returned unchanged (`rng` is ignored: `random = False`)."""

    random = False

    def __call__(self, wave: np.ndarray, rng) -> np.ndarray:
        return wave


class MfccFeatures:
    """mfcc_lstm family: a wave -> float32 (T, n_mfcc) MFCC frames (`features.mfcc_frames`, 10 ms
    hop), with SpecAugment (`spec_augment`) when built with `train=True` and called with an `rng`.

    `hp` needs `n_mfcc`, `spec_time_mask`, `spec_freq_mask` (probabilities), `spec_time_width`
    (frames) and `spec_freq_width` (coefficients); KeyError when one is missing.
    """

    def __init__(self, hp: dict, train: bool):
        self.n_mfcc = hp["n_mfcc"]
        self.p_time = hp["spec_time_mask"] if train else 0.0
        self.p_freq = hp["spec_freq_mask"] if train else 0.0
        self.time_width = hp["spec_time_width"]
        self.freq_width = hp["spec_freq_width"]
        self.random = self.p_time > 0 or self.p_freq > 0

    def __call__(self, wave: np.ndarray, rng) -> np.ndarray:
        from .features import mfcc_frames

        frames = mfcc_frames(wave, SAMPLE_RATE, n_mfcc=self.n_mfcc)
        if rng is not None:
            frames = spec_augment(
                frames,
                rng,
                p_time=self.p_time,
                p_freq=self.p_freq,
                time_width=self.time_width,
                freq_width=self.freq_width,
            )
        return frames


class PatchFeatures:
    """logmel_cnn family: a wave -> float32 (P, 1, 96, 64) log-mel patches (`features.logmel` then
    `frames_to_patches`); SpecAugment is applied to the (T, 64) frames before cutting them, when
    built with `train=True` and called with an `rng`. `hp` keys as `MfccFeatures` (bar `n_mfcc`).
    """

    def __init__(self, hp: dict, train: bool):
        self.p_time = hp["spec_time_mask"] if train else 0.0
        self.p_freq = hp["spec_freq_mask"] if train else 0.0
        self.time_width = hp["spec_time_width"]
        self.freq_width = hp["spec_freq_width"]
        self.random = self.p_time > 0 or self.p_freq > 0

    def __call__(self, wave: np.ndarray, rng) -> np.ndarray:
        from .features import frames_to_patches, logmel

        frames = logmel(wave, SAMPLE_RATE)
        if rng is not None:
            frames = spec_augment(
                frames,
                rng,
                p_time=self.p_time,
                p_freq=self.p_freq,
                time_width=self.time_width,
                freq_width=self.freq_width,
            )
        return frames_to_patches(frames)


class WaveCollate:
    """Pad and normalise with the encoder's feature extractor (the pipeline does the same), with
    an attention mask so that pooling ignores padding. `min_samples` pads short batches so that
    the encoder's time masking (SpecAugment in the encoder) always has room.

    Called on [(float32 (n_i,) 16 kHz wave, label), ...] (B items), returns `input_values` float
    (B, L), each clip zero-mean unit-variance over its own samples when `do_normalize`, zero
    padded; `attention_mask` (B, L), 1 on real samples; `labels` int64 (B,); L = max(longest
    clip, min_samples). Needs transformers.
    """

    def __init__(self, do_normalize: bool, min_samples: int = 0):
        from transformers import Wav2Vec2FeatureExtractor

        self.extractor = Wav2Vec2FeatureExtractor(
            sampling_rate=SAMPLE_RATE, do_normalize=do_normalize, return_attention_mask=True
        )
        self.min_samples = min_samples

    def __call__(self, items) -> dict[str, torch.Tensor]:
        waves = [w for w, _ in items]
        longest = max(max(len(w) for w in waves), self.min_samples)
        batch = self.extractor(
            waves, sampling_rate=SAMPLE_RATE, padding="max_length", max_length=longest, return_tensors="pt"
        )
        return {
            "input_values": batch["input_values"],
            "attention_mask": batch["attention_mask"],
            "labels": torch.tensor([y for _, y in items], dtype=torch.long),
        }


class FramesCollate:
    """Batch [(float32 (T_i, F) frames, label), ...] (B items) into `features` float32 (B, T, F),
    zero-padded to the longest T_i, `lengths` int64 (B,) = T_i, and `labels` int64 (B,)."""

    def __call__(self, items) -> dict[str, torch.Tensor]:
        lengths = [len(f) for f, _ in items]
        out = np.zeros((len(items), max(lengths), items[0][0].shape[1]), dtype=np.float32)
        for i, (f, _) in enumerate(items):
            out[i, : len(f)] = f
        return {
            "features": torch.from_numpy(out),
            "lengths": torch.tensor(lengths, dtype=torch.long),
            "labels": torch.tensor([y for _, y in items], dtype=torch.long),
        }


class PatchCollate:
    """Batch [(float32 (P_i, 1, 96, 64) patches, label), ...] (B items) into `patches` (sum P_i, 1,
    96, 64), `clip_index` int64 (sum P_i,) giving each patch's item, `n_clips` (a 0-d tensor, B)
    and `labels` int64 (B,): the inputs of `nets.VggishCnn.forward`."""

    def __call__(self, items) -> dict[str, torch.Tensor]:
        patches = np.concatenate([p for p, _ in items], axis=0)
        clip_index = np.concatenate([np.full(len(p), i, dtype=np.int64) for i, (p, _) in enumerate(items)])
        return {
            "patches": torch.from_numpy(patches),
            "clip_index": torch.from_numpy(clip_index),
            "n_clips": torch.tensor(len(items)),
            "labels": torch.tensor([y for _, y in items], dtype=torch.long),
        }
