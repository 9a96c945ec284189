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


# --- second-generation featurisers (issue #14): whole utterances, normalised per utterance


def utterance_normalise(frames: np.ndarray) -> np.ndarray:
    """Per-utterance mean and variance normalisation of (T, F) frames: each of the F dimensions
    minus its mean over the T frames, divided by its standard deviation (+ 1e-5). float32 (T, F).
    Removes the channel and the speaker's overall level (the cepstral mean and variance
    normalisation of speech recognition), which held-out speakers differ in."""
    mean = frames.mean(axis=0, keepdims=True)
    std = frames.std(axis=0, keepdims=True) + 1e-5
    return ((frames - mean) / std).astype(np.float32, copy=False)


def random_crop(frames: np.ndarray, n: int | None, rng: np.random.Generator | None) -> np.ndarray:
    """`n` consecutive frames of (T, ...) `frames` from a random start drawn by `rng`; the frames
    unchanged when `n` is None, `rng` is None or T <= n (shorter clips are padded by the collate)."""
    if n is None or rng is None or len(frames) <= n:
        return frames
    start = int(rng.integers(0, len(frames) - n + 1))
    return frames[start : start + n]


class UtteranceFrames:
    """mfcc_lstm / logmel_cnn (second generation): a wave -> float32 (T, F) frames of the whole
    clip, 10 ms hop: `features.logmel` (F = `n_mels`) or `features.mfcc_frames` (F = `n_mfcc`),
    as `preprocessing["features"]` says ('logmel_frames' or 'mfcc_frames').

    `preprocessing` gives `features`, `n_mels` / `n_mfcc` and `utterance_norm` (apply
    `utterance_normalise`; absent = False, as models exported before it existed). In training
    (`train=True`, called with an `rng`): a random crop of `hp["crop_s"]` seconds (None = none),
    then SpecAugment (`spec_augment`, `hp["spec_masks"]` masks of each kind, 1 when absent).
    """

    def __init__(self, hp: dict, preprocessing: dict, train: bool):
        self.kind = preprocessing["features"]
        self.n = preprocessing["n_mels"] if self.kind == "logmel_frames" else preprocessing["n_mfcc"]
        self.utterance_norm = bool(preprocessing.get("utterance_norm", False))
        crop_s = hp.get("crop_s") if train else None
        self.crop = None if crop_s is None else max(1, int(round(crop_s * SAMPLE_RATE / 160)))
        self.p_time = hp["spec_time_mask"] if train else 0.0
        self.p_freq = hp["spec_freq_mask"] if train else 0.0
        self.time_width = hp["spec_time_width"]
        self.freq_width = hp["spec_freq_width"]
        self.n_masks = int(hp.get("spec_masks", 1))
        self.random = self.crop is not None or self.p_time > 0 or self.p_freq > 0

    def __call__(self, wave: np.ndarray, rng) -> np.ndarray:
        from .features import logmel, mfcc_frames

        if self.kind == "logmel_frames":
            frames = logmel(wave, SAMPLE_RATE, n_mels=self.n)
        else:
            frames = mfcc_frames(wave, SAMPLE_RATE, n_mfcc=self.n)
        if self.utterance_norm:
            frames = utterance_normalise(frames)
        if rng is not None:
            frames = random_crop(frames, self.crop, rng)
            for _ in range(self.n_masks):
                frames = spec_augment(
                    frames,
                    rng,
                    p_time=self.p_time,
                    p_freq=self.p_freq,
                    time_width=self.time_width,
                    freq_width=self.freq_width,
                )
        return np.ascontiguousarray(frames, dtype=np.float32)


# ImageNet channel statistics (torchvision's normalisation), for the mel_image family.
IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


def _unit_range(x: np.ndarray) -> np.ndarray:
    lo, hi = float(x.min()), float(x.max())
    return (x - lo) / (hi - lo + 1e-6)


class MelImageFeatures:
    """mel_image family: a wave -> float32 (3, n_mels, W) mel-spectrogram image, low frequencies
    at the bottom (row n_mels - 1), as paper 001 draws them.

    Power mel spectrogram (`features.mel_db`: Hamming windows, half overlap, dB), scaled to 0..1
    per utterance; channels 'repeat' (the grey image three times: what an ImageNet CNN is fed in
    paper 001) or 'deltas' (the image, its delta and delta-delta, each scaled to 0..1); then
    ImageNet's channel mean / std. W: the clip's frames, or `image_size` (bilinear resize of the
    whole image to image_size x image_size) when set. In training (called with an `rng`): a random
    crop of `hp["crop_s"]` seconds and SpecAugment on the dB spectrogram first.
    """

    def __init__(self, hp: dict, preprocessing: dict, train: bool):
        self.n_mels = preprocessing["n_mels"]
        self.channels = preprocessing["channels"]
        self.image_size = preprocessing["image_size"]
        crop_s = hp.get("crop_s") if train else None
        self.crop = None if crop_s is None else max(1, int(round(crop_s * SAMPLE_RATE / 200)))
        self.p_time = hp["spec_time_mask"] if train else 0.0
        self.p_freq = hp["spec_freq_mask"] if train else 0.0
        self.time_width = hp["spec_time_width"]
        self.freq_width = hp["spec_freq_width"]
        self.random = self.crop is not None or self.p_time > 0 or self.p_freq > 0

    def __call__(self, wave: np.ndarray, rng) -> np.ndarray:
        import librosa

        from .features import mel_db

        frames = mel_db(wave, SAMPLE_RATE, n_mels=self.n_mels)  # (T, n_mels)
        if rng is not None:
            frames = random_crop(frames, self.crop, rng)
            frames = spec_augment(
                frames,
                rng,
                p_time=self.p_time,
                p_freq=self.p_freq,
                time_width=self.time_width,
                freq_width=self.freq_width,
            )
        grey = frames.T[::-1]  # (n_mels, T), low frequencies at the bottom
        if self.channels == "deltas" and grey.shape[1] >= 3:
            width = min(9, grey.shape[1] - (1 - grey.shape[1] % 2))
            delta = librosa.feature.delta(grey, width=width)
            planes = [grey, delta, librosa.feature.delta(grey, width=width, order=2)]
        else:
            planes = [grey, grey, grey]
        image = np.stack([_unit_range(p) for p in planes]).astype(np.float32)
        image = (image - IMAGENET_MEAN[:, None, None]) / IMAGENET_STD[:, None, None]
        if self.image_size is not None:
            t = torch.from_numpy(np.ascontiguousarray(image))[None]
            t = torch.nn.functional.interpolate(
                t, size=(self.image_size, self.image_size), mode="bilinear", align_corners=False
            )
            image = t[0].numpy()
        return np.ascontiguousarray(image, dtype=np.float32)


class ImageCollate:
    """Batch [(float32 (3, H, W_i) images, label), ...] (B items) into `images` float32 (B, 3, H,
    W), zero-padded on the right to the widest (zero is ImageNet's mean after normalisation), and
    `labels` int64 (B,)."""

    def __call__(self, items) -> dict[str, torch.Tensor]:
        c, h = items[0][0].shape[:2]
        out = np.zeros((len(items), c, h, max(x.shape[2] for x, _ in items)), dtype=np.float32)
        for i, (x, _) in enumerate(items):
            out[i, :, :, : x.shape[2]] = x
        return {
            "images": torch.from_numpy(out),
            "labels": torch.tensor([y for _, y in items], dtype=torch.long),
        }


def mix_batch(batch: dict[str, torch.Tensor], perm: torch.Tensor, lam: float) -> dict[str, torch.Tensor]:
    """Mixup (Zhang et al., ICLR 2018) of a collated batch without its labels: `lam` x each
    batch-first float input + (1 - lam) x the same input in the order `perm` (int64 (B,)), and
    `lengths` the larger of the pair's. Returns a new dict; ValueError for a key it cannot mix."""
    out = {}
    for key, value in batch.items():
        if key == "lengths":
            out[key] = torch.maximum(value, value[perm])
        elif key in ("features", "images"):
            out[key] = lam * value + (1.0 - lam) * value[perm]
        else:
            raise ValueError(f"mixup cannot mix the batch input {key!r}")
    return out
