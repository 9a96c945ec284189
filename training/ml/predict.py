"""Inference on an exported model directory, for every family.

    predictor = load_predictor(artifact_dir, device="cpu")
    proba = predictor.predict_proba([clip1, clip2])  # (n, len(predictor.labels)), rows sum to 1

Clips are float32 mono arrays (at 16 kHz unless `sr` says otherwise); they go through the same
`audio.preprocess` (trim, crop) and featurisation as in training, in length-sorted batches.
Load once per worker process and reuse (loading a transformer costs seconds).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .audio import SAMPLE_RATE
from .dataset import preprocess_all
from .families import TorchFamily, get_family

# bf16 autocast on CUDA pays off only when there is enough work per call.
BF16_MIN_CLIPS = 32


class Predictor:
    """An exported model ready to predict; made by `load_predictor`, not by hand.

    `labels` (class names, the columns of `predict_proba`), `family` (its name), `device`,
    `model` (a torch module in eval mode, or the classical family's
    `speaker_norm.VoiceNormalisedModel`), `preprocessing` (trim_db,
    max_s and feature settings), `config` (the exported config.json); for the torch families also
    `batch_size` (the training batch size by default).
    """

    def __init__(self, artifact_dir: Path, config: dict, family, model, preprocessing: dict, device: str):
        self.artifact_dir = artifact_dir
        self.config = config
        self.family = family.name
        self._family = family
        self.model = model
        self.preprocessing = preprocessing
        self.device = device
        self.labels: list[str] = list(config["labels"])
        if isinstance(family, TorchFamily):
            hp = config["hparams"]
            self._featurize = family.featurizer(hp, preprocessing, train=False)
            self._collate = family.collate(hp, preprocessing, train=False, model=model)
            self.batch_size = max(1, int(hp.get("batch_size", 16)))

    @property
    def groups_voices(self) -> bool:
        """True when a clip's prediction depends on the other clips of its voice predicted with it
        (a classical model with speaker normalisation): predict every clip of a voice in one
        call, or with `iter_proba`."""
        return not isinstance(self._family, TorchFamily) and self.model.per_voice is not None

    def predict_proba(
        self,
        clips: list[np.ndarray],
        *,
        sr: int = SAMPLE_RATE,
        batch_size: int | None = None,
        voices: Sequence[str] | None = None,
    ) -> np.ndarray:
        """Class probabilities, float64 (len(clips), len(labels)), in `labels` order, rows summing
        to 1 ((0, len(labels)) for no clips).

        `clips`: float32 mono arrays (n_i,) at `sr` Hz, in [-1, 1]; preprocessed as in training.
        `voices`: one voice key per clip ("" = unknown) or None: a speaker-normalised classical
        model normalises the clips of each voice that has enough clips among `clips` by their
        statistics (`speaker_norm`), the torch families ignore them. Torch families run softmax
        over the logits in length-sorted batches of `batch_size` (default `self.batch_size`),
        under bf16 autocast on CUDA from 32 clips; the classical family uses its scikit-learn
        model's `predict_proba` (a class absent from training gets 0).
        Raises ValueError when `voices` has not one key per clip; a CUDA out-of-memory error
        propagates as torch raises it (torch.OutOfMemoryError).
        """
        if len(clips) == 0:
            return np.zeros((0, len(self.labels)))
        if voices is not None and len(voices) != len(clips):
            raise ValueError(f"{len(voices)} voice keys for {len(clips)} clips")
        if not isinstance(self._family, TorchFamily):
            return self.proba_from_features(self.features(clips, sr=sr), voices)
        return self._torch_proba(self._preprocess(clips, sr), batch_size or self.batch_size)

    def features(self, clips: list[np.ndarray], *, sr: int = SAMPLE_RATE) -> np.ndarray:
        """The classical family's clip features, float32 (len(clips), d), after the training
        preprocessing. Raises TypeError for a torch family (it has no clip-level features)."""
        if isinstance(self._family, TorchFamily):
            raise TypeError(f"the {self.family} family has no clip-level features")
        return self._family.features(self._preprocess(clips, sr), self.preprocessing)

    def proba_from_features(self, features: np.ndarray, voices: Sequence[str] | None = None) -> np.ndarray:
        """The classical family's probabilities (as `predict_proba`) from `features` (n, d) as
        `features` gives them, with the clips' voice keys (or None)."""
        return self.model.predict_proba(features, voices, len(self.labels))

    def iter_proba(
        self,
        load: Callable[[int, int], list[np.ndarray]],
        n: int,
        *,
        batch_size: int,
        voices: Sequence[str] | None = None,
        on_progress: Callable[[float], Any] | None = None,
    ) -> Iterator[tuple[int, int, np.ndarray]]:
        """Predict n clips in batches: yields (start, stop, probabilities of clips start..stop-1).

        `load(start, stop)` returns those clips (float32 16 kHz); `voices` n voice keys or None;
        `on_progress(fraction)` is called after each batch read. When `groups_voices`, every
        batch's features are computed first and the probabilities come after the last one (a
        voice's statistics need all its clips); otherwise each batch is predicted as it is read.
        Raises as `predict_proba`.
        """
        if voices is not None and len(voices) != n:
            raise ValueError(f"{len(voices)} voice keys for {n} clips")
        spans = [(a, min(a + batch_size, n)) for a in range(0, n, batch_size)]
        if not self.groups_voices:
            for a, b in spans:
                proba = self.predict_proba(load(a, b), voices=None if voices is None else voices[a:b])
                if on_progress:
                    on_progress(b / n)
                yield a, b, proba
            return
        features = []
        for a, b in spans:
            features.append(self.features(load(a, b)))
            if on_progress:
                on_progress(b / n)
        proba = self.proba_from_features(np.concatenate(features), voices)
        for a, b in spans:
            yield a, b, proba[a:b]

    def _preprocess(self, clips: list[np.ndarray], sr: int) -> list[np.ndarray]:
        return preprocess_all(
            clips, sr=sr, trim_db=self.preprocessing["trim_db"], max_s=self.preprocessing["max_s"]
        )

    def predict(
        self, clips: list[np.ndarray], *, sr: int = SAMPLE_RATE, voices: Sequence[str] | None = None
    ) -> list[str]:
        """The most probable label of each clip (argmax of `predict_proba`), one per clip."""
        return [self.labels[i] for i in self.predict_proba(clips, sr=sr, voices=voices).argmax(axis=1)]

    def _torch_proba(self, waves: list[np.ndarray], batch_size: int) -> np.ndarray:
        import torch

        on_cuda = self.device.startswith("cuda")
        amp = (
            torch.autocast(device_type="cuda", dtype=torch.bfloat16)
            if on_cuda and len(waves) >= BF16_MIN_CLIPS
            else contextlib.nullcontext()
        )
        order = np.argsort([len(w) for w in waves], kind="stable")  # similar lengths: less padding
        out = np.zeros((len(waves), len(self.labels)))
        with torch.no_grad(), amp:
            for start in range(0, len(order), batch_size):
                idx = order[start : start + batch_size]
                batch = self._collate([(self._featurize(waves[i], None), 0) for i in idx])
                batch.pop("labels")
                batch = {k: v.to(self.device, non_blocking=True) for k, v in batch.items()}
                logits = self._family.logits(self.model, batch).float()
                out[idx] = torch.softmax(logits, dim=-1).cpu().numpy()
        return out


def read_config(artifact_dir: Path | str) -> dict:
    """The exported config.json, with `family` and `labels` filled in for every family.

    `labels` is taken from `id2label` (ordered by id) when the config lacks it (transformers
    configs). Raises FileNotFoundError without config.json, json.JSONDecodeError (a ValueError)
    on malformed JSON, ValueError when it names no family.
    """
    artifact_dir = Path(artifact_dir)
    config = json.loads((artifact_dir / "config.json").read_text())
    if "labels" not in config:  # a transformers config: labels come from id2label
        id2label = {int(k): v for k, v in config["id2label"].items()}
        config["labels"] = [id2label[i] for i in range(len(id2label))]
    if "family" not in config:
        raise ValueError(f"{artifact_dir}/config.json does not say which model family it is")
    return config


def load_predictor(artifact_dir: Path | str, device: str = "cpu") -> Predictor:
    """The exported model in `artifact_dir`, ready to predict. `device`: 'cpu', 'cuda[:N]' or 'auto'
    for the torch families; the classical family always predicts on the CPU.

    Raises as `read_config` does; ValueError for an unknown family, an invalid device string or
    CUDA requested without a GPU (`engine.resolve_device`), and for a classical model saved with
    another scikit-learn version.
    """
    artifact_dir = Path(artifact_dir)
    config = read_config(artifact_dir)
    family = get_family(config["family"])
    model, preprocessing = family.load(artifact_dir, config)
    if isinstance(family, TorchFamily):
        from .engine import resolve_device

        device = resolve_device(device)
        model.to(device)
    else:
        device = "cpu"  # scikit-learn: always the CPU, whatever the worker's device
    return Predictor(artifact_dir, config, family, model, preprocessing, device)
