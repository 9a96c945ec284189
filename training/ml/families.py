"""The five model families, selectable by name: hyper-parameters, validation, model building,
featurisation, export and loading.

| name          | input                             | model                                                  |
|---------------|-----------------------------------|--------------------------------------------------------|
| `transformer` | waveform                          | wav2vec 2.0 / HuBERT / WavLM + TuniSER head            |
| `mfcc_lstm`   | 40 MFCC per 10 ms, whole clip     | (bi)LSTM, attentive statistics pooling, TuniSER head   |
| `logmel_cnn`  | 64 log-mels per 10 ms, whole clip | CNN from scratch, attentive statistics pooling (or the |
|               | (or 0.96 s patches)               | first version: VGGish-like, clip = mean of patches)    |
| `mel_image`   | 3-channel mel-spectrogram image   | ResNet-18/34 or VGG-16/19 (torchvision names), paper   |
|               |                                   | 001's FC block; from scratch or local ImageNet weights |
| `classical`   | 188 (or 94) hand-crafted stats    | scikit-learn SVM / kNN / logistic regression / MLP     |

The from-scratch torch families (mfcc_lstm, logmel_cnn, mel_image) have two sets of defaults:
the schema's, for a 2-core CPU (a fold of RAVDESS in minutes), and `gpu_defaults`, taken on a
CUDA device for what the user leaves out. The choices among the candidates of issue #14 (mixup,
SpecAugment, attentive pooling, cosine schedule, class-balanced loss, checkpoint averaging,
per-utterance normalisation, random crops) and what they measured are in benchmarks/RESULTS.md,
"Model families (issue #14)".

Defaults of the classical family (SVM, C=1, 94 means + 94 standard deviations, balanced sample
weights) were chosen by speaker-independent cross-validation on RAVDESS: 8 emotions, 3 folds of 8
actors, UA 0.47 with the standard deviations against 0.41 with the means alone (chance 0.125).

`get_family(name).validate(hparams, device=..., precision=...)` returns the full hyper-parameter
dict (defaults overlaid with `hparams`) or raises ValueError naming the offending value.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from .audio import SAMPLE_RATE
from .hparams import Param, apply_schema, check_device_and_precision, probability

FORMAT = "tuniser-studio-model"
FORMAT_VERSION = 1

# Shared by every family: how clips are preprocessed (see `audio.preprocess`) and seeded.
_PREPROCESSING = {
    "trim_db": Param(
        30.0,
        float,
        "silence trim threshold in dB below the clip's peak; null = no trim",
        low=0.0,
        low_open=True,
        nullable=True,
    ),
    "max_clip_s": Param(
        None,
        float,
        "longer clips are centre-cropped to this many seconds; null = whole clip",
        low=0.0,
        low_open=True,
        nullable=True,
    ),
    "seed": Param(0, int, "random seed (weights, shuffling, augmentation)", low=0),
}

# Shared by the three torch families.
_TORCH = {
    "epochs": Param(30, int, "maximum number of epochs", low=1),
    "batch_size": Param(32, int, "clips per batch", low=1),
    "lr": Param(1e-3, float, "peak learning rate of AdamW", low=0.0, low_open=True),
    "weight_decay": Param(0.01, float, "AdamW weight decay", low=0.0),
    "warmup_ratio": Param(
        0.05,
        float,
        "fraction of the steps with a linear warm-up, then the lr_schedule's decay",
        low=0.0,
        high=1.0,
        high_open=True,
    ),
    "lr_schedule": Param(
        "linear",
        str,
        "decay after the warm-up: 'linear' to 0, or 'cosine' (half a cosine to 0, Loshchilov & Hutter 2017)",
        choices=("linear", "cosine"),
    ),
    "average_top": Param(
        1,
        int,
        "checkpoint averaging over N epochs (see average_of), at most a quarter of the epochs; "
        "1 = none, the best epoch's weights",
        low=1,
        high=10,
    ),
    "average_of": Param(
        "best",
        str,
        "'best': the mean of the N best epochs' weights (by validation UA), kept only when it scores at "
        "least the best epoch on validation; 'last': the mean of the last N epochs' weights, always kept "
        "(no selection on a small, noisy validation split)",
        choices=("best", "last"),
    ),
    "grad_clip": Param(
        1.0, float, "gradient norm clipping; null = none", low=0.0, low_open=True, nullable=True
    ),
    "patience": Param(
        8,
        int,
        "early stopping: epochs without a better validation UA; null = never stop early",
        low=1,
        nullable=True,
    ),
    "balanced_loss": Param(True, bool, "weight the cross-entropy by inverse class frequency (favours UA)"),
    "num_workers": Param(
        None,
        int,
        "DataLoader worker processes (featurisation, augmentation, collation); "
        "null = automatic: none on the CPU, up to 8 on a GPU",
        low=0,
        nullable=True,
    ),
    "progress_every": Param(20, int, "call on_progress every this many steps (and at each epoch end)", low=1),
    "aug_noise": probability(0.2, "probability of Gaussian noise at 10-40 dB SNR"),
    "aug_pitch_shift": probability(0.0, "probability of a pitch shift of up to 2 semitones (CPU-costly)"),
    "aug_time_shift": probability(0.2, "probability of a time shift of up to 15 % of the clip"),
    "aug_gain": probability(0.2, "probability of a gain change of up to 6 dB"),
    "spec_time_mask": probability(0.5, "probability of a SpecAugment time mask"),
    "spec_freq_mask": probability(0.5, "probability of a SpecAugment frequency mask"),
    "spec_time_width": Param(20, int, "largest time mask, in frames", low=1),
    "spec_freq_width": Param(8, int, "largest frequency mask, in bins", low=1),
    "head_hidden": Param(128, int, "hidden units of the TuniSER head", low=1),
    "dropout": probability(0.3, "dropout of the head (and between LSTM layers)"),
}


# Shared by the families trained from scratch on spectral frames (mfcc_lstm, logmel_cnn, mel_image).
_SCRATCH = {
    "mixup": Param(
        0.0,
        float,
        "mixup (Zhang et al. 2018): alpha of the Beta(alpha, alpha) mixing weight of pairs of training "
        "clips and their labels; 0 = off",
        low=0.0,
    ),
    "crop_s": Param(
        None,
        float,
        "training clips: a random crop of this many seconds of frames, drawn anew every epoch "
        "(validation, test and inference see whole clips); null = whole clips",
        low=0.0,
        low_open=True,
        nullable=True,
    ),
    "utterance_norm": Param(
        True,
        bool,
        "normalise each clip's frames per utterance (mean and variance of every dimension over time)",
    ),
    "spec_masks": Param(1, int, "SpecAugment masks of each kind (time, frequency) per training clip", low=0),
}


def _with(base: dict[str, Param], **overrides: Any) -> dict[str, Param]:
    """`base` with some defaults changed (same types and bounds)."""
    out = dict(base)
    for name, default in overrides.items():
        p = out[name]
        out[name] = Param(
            default, p.kind, p.help, p.choices, p.low, p.high, p.low_open, p.high_open, p.nullable
        )
    return out


def _write_json(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


def _base_config(family: str, hp: dict, labels: list[str], preprocessing: dict, **extra) -> dict:
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "family": family,
        "labels": list(labels),
        "id2label": {str(i): label for i, label in enumerate(labels)},
        "label2id": {label: i for i, label in enumerate(labels)},
        "hparams": hp,
        "preprocessing": preprocessing,
        **extra,
    }


class Family:
    """A model family: its `name`, whether it `uses_torch`, and its hyper-parameter `schema`
    (name -> `hparams.Param`). Subclasses add model building, featurisation, export and loading.
    """

    name: str = ""
    uses_torch: bool = True
    schema: dict[str, Param] = {}
    # Defaults that replace the schema's on a CUDA device (larger nets, longer runs); the schema's
    # own defaults are the CPU set, sized for a 2-core machine.
    gpu_defaults: dict[str, Any] = {}

    def default_hparams(self, device: str = "cpu") -> dict:
        """Every hyper-parameter at its default for `device` (a new dict): the schema's, with
        `gpu_defaults` over them when `device` is 'cuda' or 'cuda:N'."""
        out = {name: p.default for name, p in self.schema.items()}
        if device.startswith("cuda"):
            out.update(self.gpu_defaults)
        return out

    def describe_hparams(self) -> dict[str, str]:
        """Name -> one-line help (with units) of every hyper-parameter."""
        return {name: p.help for name, p in self.schema.items()}

    def validate(self, hparams: dict | None = None, *, device: str = "auto", precision: str = "fp32") -> dict:
        """The full hyper-parameter dict (defaults overlaid with `hparams`, values coerced); the
        defaults are `gpu_defaults` over the schema's on a 'cuda' / 'cuda:N' `device`, the schema's
        (the CPU set) on 'cpu' and 'auto' (`engine.train` resolves 'auto' before it validates).

        Raises ValueError on a bad device or precision (`hparams.check_device_and_precision`),
        an unknown name or invalid value (`hparams.apply_schema`), or a combination the family
        refuses (`check_combination`).
        """
        check_device_and_precision(device, precision)
        if hparams is not None and not isinstance(hparams, dict):
            apply_schema(self.name, self.schema, hparams)  # raises: not a JSON object of name: value
        given = dict(hparams or {})
        if device.startswith("cuda"):
            # The GPU set for what the user left out ('auto' is resolved by engine.train first).
            given = {**{k: v for k, v in self.gpu_defaults.items() if k not in given}, **given}
        hp = apply_schema(self.name, self.schema, given)
        self.check_combination(hp, device=device, precision=precision)
        return hp

    def check_combination(self, hp: dict, *, device: str, precision: str) -> None:
        """Raise ValueError on values that are valid one by one but not together (none here)."""

    def preprocessing(self, hp: dict) -> dict:
        """What inference must repeat: `sample_rate` (Hz), `trim_db` (dB or None), `max_s` (seconds
        or None, from `max_clip_s`); subclasses add their feature settings."""
        return {"sample_rate": SAMPLE_RATE, "trim_db": hp["trim_db"], "max_s": hp["max_clip_s"]}


# --------------------------------------------------------------------------------------------
# Torch families


class TorchFamily(Family):
    """Interface the engine drives; see `engine._train_torch`."""

    def build_model(
        self, hp: dict, labels: list[str], *, train_waves: list[np.ndarray], backbone_dir: Path | None
    ):
        """(model, preprocessing): a fresh model (pretrained encoder where there is one) and the
        settings inference needs to featurise clips as training did."""
        raise NotImplementedError

    def featurizer(self, hp: dict, preprocessing: dict, *, train: bool):
        """The per-clip featurisation (picklable): `f(wave, rng) -> features`, random only with
        `train=True` (see `data.ClipDataset`)."""
        raise NotImplementedError

    def collate(self, hp: dict, preprocessing: dict, *, train: bool, model=None):
        """The batch collation function (picklable, for DataLoader workers)."""
        raise NotImplementedError

    def logits(self, model, batch: dict):
        """Logits (B, n_classes) for a collated batch, its `labels` removed."""
        return model(**batch)

    def mix(self, batch: dict, perm, lam: float) -> dict:
        """Mixup of a collated batch (labels removed): `lam` x the batch + (1 - lam) x the batch in
        the order `perm`. ValueError here: the family does not support mixup."""
        raise ValueError(f"the {self.name} family has no mixup")

    def param_groups(self, model, hp: dict) -> list[dict]:
        """AdamW parameter groups: every trainable parameter at `hp["lr"]`."""
        return [{"params": [p for p in model.parameters() if p.requires_grad], "lr": hp["lr"]}]

    def set_train_mode(self, model, hp: dict) -> None:
        """Put `model` in training mode before each epoch."""
        model.train()

    def model_args(self, hp: dict, n_classes: int) -> dict:
        """The keyword arguments of the network's constructor, stored in config.json."""
        raise NotImplementedError

    def make_net(self, model_args: dict):
        """A fresh network (random weights) from `model_args`."""
        raise NotImplementedError

    def export(self, model, hp: dict, labels: list[str], preprocessing: dict, out_dir: Path) -> None:
        """Write model.safetensors (the state dict, buffers included, on the CPU) and config.json
        (`_base_config` plus `model_args` and `weights`) into the existing `out_dir`."""
        from safetensors.torch import save_file

        state = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
        save_file(state, str(out_dir / "model.safetensors"))
        config = _base_config(
            self.name,
            hp,
            labels,
            preprocessing,
            model_args=self.model_args(hp, len(labels)),
            weights="model.safetensors",
        )
        _write_json(out_dir / "config.json", config)

    def load(self, artifact_dir: Path, config: dict):
        """(model, preprocessing) from an exported directory, on the CPU, in eval mode."""
        from safetensors.torch import load_file

        model = self.make_net(config["model_args"])
        model.load_state_dict(load_file(str(artifact_dir / config["weights"])))
        return model.eval(), config["preprocessing"]


class TransformerFamily(TorchFamily):
    """A pretrained speech encoder (wav2vec 2.0 / HuBERT / WavLM) fine-tuned with the TuniSER head
    on the waveform (`modeling_tuniser.TuniserForAudioClassification`)."""

    name = "transformer"
    schema = {
        **_PREPROCESSING,
        **_with(
            _TORCH,
            epochs=10,
            batch_size=8,
            lr=3e-5,
            warmup_ratio=0.1,
            patience=3,
            head_hidden=256,
            dropout=0.1,
            spec_time_mask=0.05,
            spec_freq_mask=0.0,
        ),
        "max_clip_s": Param(
            8.0,
            float,
            "longer clips are centre-cropped to this many seconds (bounds GPU memory); null = whole clip",
            low=0.0,
            low_open=True,
            nullable=True,
        ),
        "head_lr": Param(
            1e-3, float, "learning rate of the head and the layer weights", low=0.0, low_open=True
        ),
        "freeze_feature_encoder": Param(True, bool, "keep the convolutional feature encoder frozen"),
        "freeze_backbone": Param(False, bool, "freeze the whole encoder: linear probing of the head only"),
        "pooling": Param(
            "mean",
            str,
            "'mean' of the last layer, or 'weighted': a learned softmax-weighted "
            "sum of all hidden layers, then the mean over time",
            choices=("mean", "weighted"),
        ),
        "gradient_checkpointing": Param(
            False, bool, "recompute activations in the backward pass (less memory)"
        ),
    }
    # In this family spec_time_mask / spec_freq_mask are the encoder's own SpecAugment on its latent
    # frames (`mask_time_prob` / `mask_feature_prob` of the wav2vec2 / HuBERT / WavLM config:
    # the probability of each frame starting a masked span); the width params do not apply.

    def check_combination(self, hp: dict, *, device: str, precision: str) -> None:
        """ValueError when `freeze_backbone` is combined with `freeze_feature_encoder=false` or with
        `gradient_checkpointing`."""
        if hp["freeze_backbone"] and not hp["freeze_feature_encoder"]:
            raise ValueError(
                "freeze_feature_encoder=false contradicts freeze_backbone=true: a frozen backbone includes "
                "its feature encoder"
            )
        if hp["freeze_backbone"] and hp["gradient_checkpointing"]:
            raise ValueError(
                "gradient_checkpointing has no use with freeze_backbone=true (no encoder gradients)"
            )

    def build_model(self, hp, labels, *, train_waves, backbone_dir):
        """(model, preprocessing): the encoder of `backbone_dir` (a local `save_pretrained`
        directory; nothing is downloaded) under a fresh head, its SpecAugment probabilities set
        from the hyper-parameters and the freezing applied; `do_normalize` comes from its
        preprocessor_config.json (True without one). `train_waves` is unused. Raises ValueError
        when `backbone_dir` is None, has no config.json, or holds weights that do not fit it."""
        from transformers import AutoModel, Wav2Vec2FeatureExtractor

        from .modeling_tuniser import TuniserConfig, TuniserForAudioClassification

        if backbone_dir is None:
            raise ValueError(
                "the transformer family needs backbone_dir: a local wav2vec2 / HuBERT / WavLM directory"
            )
        backbone_dir = Path(backbone_dir)
        if not (backbone_dir / "config.json").is_file():
            raise ValueError(
                f"backbone_dir {backbone_dir} has no config.json (expected a save_pretrained directory)"
            )
        encoder = AutoModel.from_pretrained(backbone_dir, local_files_only=True)
        do_normalize = True
        if (backbone_dir / "preprocessor_config.json").is_file():
            do_normalize = Wav2Vec2FeatureExtractor.from_pretrained(
                backbone_dir, local_files_only=True
            ).do_normalize
        encoder_config = encoder.config.to_dict()
        encoder_config["mask_time_prob"] = hp["spec_time_mask"]
        encoder_config["mask_feature_prob"] = hp["spec_freq_mask"]
        if hp["pooling"] == "weighted" and "layerdrop" in encoder_config:
            # LayerDrop skips layers at random in training, and a skipped layer leaves no hidden state:
            # the weighted sum needs every layer, every step.
            encoder_config["layerdrop"] = 0.0
        preprocessing = {**self.preprocessing(hp), "do_normalize": bool(do_normalize)}
        config = TuniserConfig(
            encoder_config=encoder_config,
            pooling=hp["pooling"],
            head_hidden_size=hp["head_hidden"],
            head_dropout=hp["dropout"],
            id2label=dict(enumerate(labels)),
            label2id={label: i for i, label in enumerate(labels)},
            family=self.name,
            hparams=hp,
            preprocessing=preprocessing,
        )
        model = TuniserForAudioClassification(config)
        result = model.backbone.load_state_dict(encoder.state_dict(), strict=False)
        # Only the masked-frame embedding may differ: it exists iff a mask probability is > 0.
        bad = [k for k in [*result.missing_keys, *result.unexpected_keys] if k != "masked_spec_embed"]
        if bad:
            raise ValueError(f"the encoder weights in {backbone_dir} do not fit its config: {bad[:5]}")
        if hp["freeze_feature_encoder"]:
            model.freeze_feature_encoder()
        if hp["freeze_backbone"]:
            model.freeze_backbone()
        if hp["gradient_checkpointing"]:
            model.gradient_checkpointing_enable()
        return model, preprocessing

    def featurizer(self, hp, preprocessing, *, train):
        """`data.WaveFeatures`: the waveform itself."""
        from .data import WaveFeatures

        return WaveFeatures()

    def collate(self, hp, preprocessing, *, train, model=None):
        """`data.WaveCollate`, padding to at least 0.1 s, and in training with the encoder's time
        masking on to at least twice a mask span (`mask_time_length` frames x the conv stride)."""
        from .data import WaveCollate

        min_samples = SAMPLE_RATE // 10  # longer than any encoder's receptive field (400 for wav2vec2)
        encoder_config = model.config.encoder_config if model is not None else None
        if train and encoder_config is not None and hp["spec_time_mask"] > 0:
            stride = int(np.prod(encoder_config.get("conv_stride", (320,))))
            min_samples = max(min_samples, 2 * encoder_config.get("mask_time_length", 10) * stride)
        return WaveCollate(preprocessing["do_normalize"], min_samples)

    def logits(self, model, batch):
        """The `logits` of the model's SequenceClassifierOutput, (B, n_classes)."""
        return model(**batch).logits

    def param_groups(self, model, hp):
        """Head and layer weights at `head_lr`; trainable encoder parameters (if any) at `lr`."""
        head = [p for n, p in model.named_parameters() if not n.startswith("backbone.") and p.requires_grad]
        encoder = [p for p in model.backbone.parameters() if p.requires_grad]
        groups = [{"params": head, "lr": hp["head_lr"]}]
        if encoder:
            groups.append({"params": encoder, "lr": hp["lr"]})
        return groups

    def set_train_mode(self, model, hp):
        """Training mode, except a frozen (`freeze_backbone`) encoder, which stays in eval mode."""
        model.train()
        if hp["freeze_backbone"]:
            model.backbone.eval()  # linear probing: no dropout / masking inside the frozen encoder

    def export(self, model, hp, labels, preprocessing, out_dir):
        """A directory `transformers.pipeline("audio-classification", model=dir, trust_remote_code=True)`
        loads: config.json (TuniserConfig, auto_map), modeling_tuniser.py + audio.py + nets.py,
        model.safetensors, preprocessor_config.json (TuniserFeatureExtractor: trims as training did)."""
        from .modeling_tuniser import TuniserConfig, TuniserFeatureExtractor, TuniserForAudioClassification

        TuniserConfig.register_for_auto_class()
        TuniserForAudioClassification.register_for_auto_class("AutoModelForAudioClassification")
        TuniserFeatureExtractor.register_for_auto_class()
        model.config.hparams = hp
        model.config.preprocessing = preprocessing
        was_training = model.training
        model.to("cpu").eval().save_pretrained(out_dir)
        model.train(was_training)
        TuniserFeatureExtractor(
            trim_db=preprocessing["trim_db"],
            max_s=preprocessing["max_s"],
            do_normalize=preprocessing["do_normalize"],
        ).save_pretrained(out_dir)

    def load(self, artifact_dir, config):
        """(model in eval mode on the CPU, preprocessing) via `from_pretrained`, offline."""
        from .modeling_tuniser import TuniserForAudioClassification

        model = TuniserForAudioClassification.from_pretrained(artifact_dir, local_files_only=True)
        return model.eval(), dict(model.config.preprocessing)


class _FramesFamily(TorchFamily):
    """Shared by mfcc_lstm and logmel_cnn: whole-utterance frames (`data.UtteranceFrames`),
    zero-padded batches (`data.FramesCollate`) and mixup (`data.mix_batch`)."""

    def featurizer(self, hp, preprocessing, *, train):
        """`data.UtteranceFrames`: (T, F) frames, normalised per utterance when the preprocessing
        says so; random crop and SpecAugment in training."""
        from .data import UtteranceFrames

        return UtteranceFrames(hp, preprocessing, train=train)

    def collate(self, hp, preprocessing, *, train, model=None):
        """`data.FramesCollate`: zero-padded frames and their lengths."""
        from .data import FramesCollate

        return FramesCollate()

    def mix(self, batch: dict, perm, lam: float) -> dict:
        """`data.mix_batch`: mixup of the batch inputs (the engine mixes the loss)."""
        from .data import mix_batch

        return mix_batch(batch, perm, lam)


class MfccLstmFamily(_FramesFamily):
    """The TuniSER paper's LSTM baseline on MFCC frames (`nets.MfccLstm`), by default with
    attentive statistics pooling (`nets.MfccAttnLstm`), per-utterance normalisation, random
    crops, mixup, a cosine schedule and the mean of the last epochs' weights: the training
    settings chosen on logmel_cnn (benchmarks/RESULTS.md, "Model families (issue #14)"); this
    family was not cross-validated with them."""

    name = "mfcc_lstm"
    schema = {
        **_PREPROCESSING,
        **_with(
            _TORCH,
            epochs=40,
            patience=None,
            lr_schedule="cosine",
            average_top=5,
            average_of="last",
            lr=2e-3,
        ),
        **_with(_SCRATCH, mixup=0.2, crop_s=2.0, spec_masks=2),
        "max_clip_s": Param(
            10.0,
            float,
            "longer clips are centre-cropped to this many seconds; null = whole clip",
            low=0.0,
            low_open=True,
            nullable=True,
        ),
        "n_mfcc": Param(40, int, "MFCC coefficients per 10 ms frame", low=1, high=64),
        "hidden": Param(128, int, "LSTM units per direction", low=1),
        "num_layers": Param(2, int, "stacked LSTM layers", low=1),
        "bidirectional": Param(True, bool, "bidirectional LSTM"),
        "pooling": Param(
            "attention",
            str,
            "over time: 'attention' (attentive statistics pooling: weighted mean and standard deviation) "
            "or 'mean' of the valid frames (the paper's baseline)",
            choices=("attention", "mean"),
        ),
    }
    gpu_defaults = {"hidden": 256, "epochs": 80, "patience": 20}

    def model_args(self, hp, n_classes):
        """Constructor arguments of `nets.MfccLstm` (plus `pooling`, which picks the class)."""
        return {
            "n_mfcc": hp["n_mfcc"],
            "hidden": hp["hidden"],
            "num_layers": hp["num_layers"],
            "bidirectional": hp["bidirectional"],
            "dropout": hp["dropout"],
            "head_hidden": hp["head_hidden"],
            "n_classes": n_classes,
            "pooling": hp["pooling"],
        }

    def make_net(self, model_args):
        """A fresh `nets.MfccAttnLstm` for `pooling='attention'`, else `nets.MfccLstm` (models
        exported before `pooling` existed have none: mean pooling)."""
        from .nets import MfccAttnLstm, MfccLstm

        args = dict(model_args)
        pooling = args.pop("pooling", "mean")
        return (MfccAttnLstm if pooling == "attention" else MfccLstm)(**args)

    def build_model(self, hp, labels, *, train_waves, backbone_dir):
        """A fresh network whose `mean` / `std` buffers are the per-coefficient statistics of the
        (featurised, possibly utterance-normalised) frames of up to 1000 training clips (std +
        1e-5). `backbone_dir` is unused."""
        import torch

        pre = self.preprocessing(hp)
        model = self.make_net(self.model_args(hp, len(labels)))
        featurize = self.featurizer(hp, pre, train=False)
        frames = np.concatenate([featurize(w, None) for w in _stats_sample(train_waves, hp["seed"])])
        model.mean.copy_(torch.from_numpy(frames.mean(axis=0)))
        model.std.copy_(torch.from_numpy(frames.std(axis=0) + 1e-5))
        return model, pre

    def preprocessing(self, hp):
        """The shared settings plus `features="mfcc_frames"`, `n_mfcc` and `utterance_norm`."""
        return {
            **super().preprocessing(hp),
            "features": "mfcc_frames",
            "n_mfcc": hp["n_mfcc"],
            "utterance_norm": hp["utterance_norm"],
        }


LOGMEL_ARCHS = ("attn_cnn", "vggish_patches")


class LogmelCnnFamily(_FramesFamily):
    """A log-mel CNN from scratch. `arch='attn_cnn'` (default): whole utterances of 10 ms log-mel
    frames, normalised per utterance, randomly cropped and SpecAugmented in training, through
    `nets.LogmelAttnCnn` (conv blocks, attentive statistics pooling), with mixup, a cosine schedule
    and checkpoint averaging. `arch='vggish_patches'`: the first version, a VGGish-like CNN on
    0.96 s patches whose logits are averaged per clip (`nets.VggishCnn`); models exported with it
    keep loading (their config has no `arch`)."""

    name = "logmel_cnn"
    schema = {
        **_PREPROCESSING,
        **_with(
            _TORCH,
            epochs=40,
            patience=None,
            lr_schedule="cosine",
            average_top=5,
            average_of="last",
            lr=2e-3,
        ),
        **_with(_SCRATCH, mixup=0.2, crop_s=2.0, spec_masks=2),
        "spec_time_width": Param(30, int, "largest time mask, in frames", low=1),
        "max_clip_s": Param(
            10.0,
            float,
            "longer clips are centre-cropped to this many seconds; null = whole clip",
            low=0.0,
            low_open=True,
            nullable=True,
        ),
        "arch": Param(
            "attn_cnn",
            str,
            "'attn_cnn' (whole utterances, attentive statistics pooling) or 'vggish_patches' (the first "
            "version: 0.96 s patches, mean of the patch logits; ignores n_mels, blocks, crop_s, "
            "utterance_norm, spec_masks)",
            choices=LOGMEL_ARCHS,
        ),
        "width": Param(16, int, "channels of the first conv block (then x2, x4, x8)", low=1),
        "blocks": Param(4, int, "conv blocks of attn_cnn (each halves time and frequency)", low=1, high=6),
        "n_mels": Param(64, int, "mel bands of attn_cnn (125-7500 Hz)", low=8, high=256),
    }
    gpu_defaults = {"width": 32, "epochs": 80, "patience": 20}

    def check_combination(self, hp, *, device, precision):
        """ValueError for mixup with `arch='vggish_patches'` (a clip is several patches there)."""
        if hp["arch"] == "vggish_patches" and hp["mixup"] > 0:
            raise ValueError("mixup needs arch 'attn_cnn': vggish_patches mixes no clips; set mixup to 0")

    def model_args(self, hp, n_classes):
        """Constructor arguments of `nets.LogmelAttnCnn` (with `arch`) or `nets.VggishCnn`."""
        common = {"width": hp["width"], "dropout": hp["dropout"], "head_hidden": hp["head_hidden"]}
        if hp["arch"] == "vggish_patches":
            return {**common, "n_classes": n_classes}
        return {
            "arch": "attn_cnn",
            **common,
            "n_mels": hp["n_mels"],
            "blocks": hp["blocks"],
            "n_classes": n_classes,
        }

    def make_net(self, model_args):
        """A fresh `nets.LogmelAttnCnn` when `model_args["arch"]` is 'attn_cnn', else (no `arch`:
        models exported before it existed) a `nets.VggishCnn`."""
        from .nets import LogmelAttnCnn, VggishCnn

        args = dict(model_args)
        if args.pop("arch", "vggish_patches") == "attn_cnn":
            return LogmelAttnCnn(**args)
        return VggishCnn(**args)

    def build_model(self, hp, labels, *, train_waves, backbone_dir):
        """A fresh network whose scalar `mean` / `std` buffers are the overall statistics of the
        featurised training inputs of up to 1000 clips (std + 1e-5). `backbone_dir` is unused."""
        pre = self.preprocessing(hp)
        model = self.make_net(self.model_args(hp, len(labels)))
        featurize = self.featurizer(hp, pre, train=False)
        feats = np.concatenate([featurize(w, None) for w in _stats_sample(train_waves, hp["seed"])])
        model.mean.fill_(float(feats.mean()))
        model.std.fill_(float(feats.std()) + 1e-5)
        return model, pre

    def preprocessing(self, hp):
        """The shared settings plus the input layout. attn_cnn: `features="logmel_frames"`,
        `n_mels`, `utterance_norm`. vggish_patches: 64 mel bands, 96-frame patches every 48 frames
        (0.96 s every 0.48 s)."""
        if hp.get("arch", "vggish_patches") == "attn_cnn":
            return {
                **super().preprocessing(hp),
                "features": "logmel_frames",
                "n_mels": hp["n_mels"],
                "utterance_norm": hp["utterance_norm"],
            }
        return {
            **super().preprocessing(hp),
            "features": "logmel_patches",
            "n_mels": 64,
            "patch_frames": 96,
            "hop_frames": 48,
        }

    def featurizer(self, hp, preprocessing, *, train):
        """`data.UtteranceFrames` for 'logmel_frames'; `data.PatchFeatures` ((P, 1, 96, 64)
        patches, SpecAugment in training) for 'logmel_patches'."""
        if preprocessing["features"] == "logmel_patches":
            from .data import PatchFeatures

            return PatchFeatures(hp, train=train)
        return super().featurizer(hp, preprocessing, train=train)

    def collate(self, hp, preprocessing, *, train, model=None):
        """`data.FramesCollate`, or `data.PatchCollate` (the batch's patches stacked, with the clip
        of each) for 'logmel_patches'."""
        if preprocessing["features"] == "logmel_patches":
            from .data import PatchCollate

            return PatchCollate()
        return super().collate(hp, preprocessing, train=train)


# = image_nets.ARCHS (not imported: this module must not import torch).
IMAGE_ARCHS = ("resnet18", "resnet34", "vgg16", "vgg16_bn", "vgg19", "vgg19_bn")


class MelImageFamily(TorchFamily):
    """Mel-spectrogram images into an ImageNet CNN (paper 001, Chakhtouna et al.: VGG-16/19 on
    mel-spectrogram images, with their fully connected block): `image_nets.ResNet` / `VGG` in
    plain torch with torchvision's parameter names, trained from scratch, or from a local
    torchvision ImageNet state dict (`pretrained_path`) minus its classifier."""

    name = "mel_image"
    schema = {
        **_PREPROCESSING,
        **{
            k: v
            for k, v in _with(
                _TORCH,
                epochs=30,
                patience=None,
                lr_schedule="cosine",
                average_top=5,
                average_of="last",
                dropout=0.5,
                batch_size=32,
            ).items()
            if k != "head_hidden"  # the head is paper 001's fixed 512-256 block
        },
        **{
            k: v
            for k, v in _with(_SCRATCH, mixup=0.2, crop_s=2.0).items()
            if k not in ("utterance_norm", "spec_masks")  # images are scaled per utterance anyway
        },
        "max_clip_s": Param(
            10.0,
            float,
            "longer clips are centre-cropped to this many seconds; null = whole clip",
            low=0.0,
            low_open=True,
            nullable=True,
        ),
        "arch": Param(
            "resnet18", str, "the ImageNet CNN (torchvision's layout and names)", choices=IMAGE_ARCHS
        ),
        "base_width": Param(
            16, int, "channels of the first stage (64 = torchvision's, needed by ImageNet weights)", low=4
        ),
        "n_mels": Param(64, int, "mel bands (image height)", low=16, high=256),
        "channels": Param(
            "repeat",
            str,
            "the 3 image channels: 'repeat' (the grey mel image three times, as an ImageNet CNN is fed in "
            "paper 001) or 'deltas' (log-mel, delta, delta-delta)",
            choices=("repeat", "deltas"),
        ),
        "image_size": Param(
            None,
            int,
            "resize each image to image_size x image_size pixels (224 = ImageNet's); null = n_mels x frames",
            low=32,
            high=512,
            nullable=True,
        ),
        "pretrained_path": Param(
            "",
            str,
            "a local .pth state dict of the torchvision model named by arch (ImageNet weights); "
            "'' = train from scratch",
        ),
    }
    gpu_defaults = {
        "arch": "vgg19_bn",
        "base_width": 64,
        "n_mels": 128,
        "image_size": 224,
        "epochs": 60,
        "patience": 15,
        "lr": 1e-3,
    }

    def check_combination(self, hp, *, device, precision):
        """ValueError for `pretrained_path` with a `base_width` other than 64 (ImageNet's)."""
        if hp["pretrained_path"] and hp["base_width"] != 64:
            raise ValueError(
                "pretrained_path needs base_width 64 (torchvision's ImageNet weights), "
                f"not {hp['base_width']}"
            )

    def model_args(self, hp, n_classes):
        """Constructor arguments of `image_nets.make_image_net`."""
        return {
            "arch": hp["arch"],
            "base_width": hp["base_width"],
            "n_classes": n_classes,
            "dropout": hp["dropout"],
        }

    def make_net(self, model_args):
        """A fresh `image_nets.ResNet` / `VGG` (random weights)."""
        from .image_nets import make_image_net

        return make_image_net(**model_args)

    def build_model(self, hp, labels, *, train_waves, backbone_dir):
        """A fresh network, its weights but the classifier from `pretrained_path` when set.
        Raises ValueError when that file is missing or does not fit `arch` (see
        `image_nets.load_imagenet_state_dict`). `train_waves` and `backbone_dir` are unused."""
        from .image_nets import load_imagenet_state_dict

        model = self.make_net(self.model_args(hp, len(labels)))
        if hp["pretrained_path"]:
            path = Path(hp["pretrained_path"])
            if not path.is_file():
                raise ValueError(f"pretrained_path {path} is not a file")
            load_imagenet_state_dict(model, path)
        return model, self.preprocessing(hp)

    def preprocessing(self, hp):
        """The shared settings plus `features="mel_image"`, `n_mels`, `channels`, `image_size`."""
        return {
            **super().preprocessing(hp),
            "features": "mel_image",
            "n_mels": hp["n_mels"],
            "channels": hp["channels"],
            "image_size": hp["image_size"],
        }

    def featurizer(self, hp, preprocessing, *, train):
        """`data.MelImageFeatures`: (3, n_mels, W) images; random crop and SpecAugment in training."""
        from .data import MelImageFeatures

        return MelImageFeatures(hp, preprocessing, train=train)

    def collate(self, hp, preprocessing, *, train, model=None):
        """`data.ImageCollate`: images zero-padded to the widest of the batch."""
        from .data import ImageCollate

        return ImageCollate()

    def logits(self, model, batch):
        """The network on `batch["images"]`."""
        return model(batch["images"])

    def mix(self, batch: dict, perm, lam: float) -> dict:
        """`data.mix_batch` of the images."""
        from .data import mix_batch

        return mix_batch(batch, perm, lam)


def _stats_sample(waves: list[np.ndarray], seed: int, n: int = 1000) -> list[np.ndarray]:
    """Up to `n` training clips, to estimate feature statistics for standardisation."""
    if len(waves) <= n:
        return waves
    idx = np.random.default_rng(seed).choice(len(waves), size=n, replace=False)
    return [waves[i] for i in sorted(idx)]


# --------------------------------------------------------------------------------------------
# scikit-learn family

CLASSIFIERS = ("svm", "knn", "logreg", "mlp")


FEATURE_SETS = ("handcrafted", "egemaps", "handcrafted+egemaps")


class ClassicalFamily(Family):
    """A scikit-learn classifier on clip-level features, CPU only: the 94 hand-crafted features of
    paper 002 (`features.handcrafted`: per-clip means, plus standard deviations with `with_std`),
    the 88 eGeMAPS functionals (`features.egemaps`), or both (the default); missing values imputed
    with the training mean, standardised; with `speaker_norm`, speaker-normalised where a voice has
    `speaker_norm_min_clips` clips (`speaker_norm.VoiceNormalisedModel`).

    Defaults chosen by measurement (benchmarks.families, RESULTS.md "Model families"): both feature
    sets with speaker normalisation beat the hand-crafted set alone on RAVDESS-4 6-fold and EmoDB-4
    leave-one-speaker-out (screening figures in `speaker_norm`'s docstring)."""

    name = "classical"
    uses_torch = False
    schema = {
        **_PREPROCESSING,
        "classifier": Param("svm", str, "scikit-learn classifier", choices=CLASSIFIERS),
        "feature_set": Param(
            "handcrafted+egemaps",
            str,
            "clip features: 'handcrafted' (94 or 188 librosa statistics, paper 002), 'egemaps' (88 eGeMAPS "
            "v02 functionals, openSMILE) or both",
            choices=FEATURE_SETS,
        ),
        "with_std": Param(True, bool, "188 features (94 means + 94 standard deviations) instead of 94 means"),
        "speaker_norm": Param(
            True,
            bool,
            "speaker normalisation: standardise each voice's features by its own clips' statistics "
            "(imported speaker, series speaker or speaker cluster), with a second model for clips "
            "of unknown or rare voices",
        ),
        "speaker_norm_min_clips": Param(
            10, int, "fewest clips of a voice, among those predicted together, for it to be normalised", low=2
        ),
        "C": Param(1.0, float, "inverse regularisation strength (svm, logreg)", low=0.0, low_open=True),
        "gamma": Param("scale", str, "RBF kernel coefficient of the svm", choices=("scale", "auto")),
        "n_neighbors": Param(5, int, "neighbours of knn", low=1),
        "mlp_hidden": Param(256, int, "hidden units of the mlp", low=1),
        "mlp_alpha": Param(1e-3, float, "L2 penalty of the mlp", low=0.0),
        "max_iter": Param(500, int, "iterations of logreg / mlp", low=1),
        "balanced": Param(
            True,
            bool,
            "weight training clips by inverse class frequency (favours UA); "
            "svm (incl. its probability calibration), logreg and mlp; knn ignores it",
        ),
        "n_jobs": Param(1, int, "processes for feature extraction", low=1),
    }

    def check_combination(self, hp, *, device, precision):
        """ValueError for a CUDA device or a precision other than 'fp32'."""
        if device.startswith("cuda"):
            raise ValueError(
                f"the classical family trains with scikit-learn on the CPU: device {device!r} is not "
                "available to it; use 'cpu' or 'auto'"
            )
        if precision != "fp32":
            raise ValueError(
                f"the classical family has no mixed precision: use precision 'fp32', not {precision!r}"
            )

    def preprocessing(self, hp):
        """The shared settings plus `features="handcrafted"` (the family's feature kind, kept for
        models saved before `feature_set`), `feature_set` and `with_std`."""
        return {
            **super().preprocessing(hp),
            "features": "handcrafted",
            "feature_set": hp["feature_set"],
            "with_std": hp["with_std"],
        }

    def build_pipeline(self, hp: dict):
        """An unfitted Pipeline: SimpleImputer (training mean), StandardScaler, then `classifier`:
        'svm' (RBF SVC with Platt-scaled probabilities, Platt 1999, from `CalibratedClassifierCV`
        over 3 stratified folds), 'knn' (distance-weighted), 'logreg' or 'mlp' (one hidden layer)."""
        from sklearn.impute import SimpleImputer
        from sklearn.neighbors import KNeighborsClassifier
        from sklearn.neural_network import MLPClassifier
        from sklearn.pipeline import Pipeline
        from sklearn.preprocessing import StandardScaler
        from sklearn.svm import SVC

        if hp["classifier"] == "svm":
            from sklearn.calibration import CalibratedClassifierCV

            # Probabilities by Platt scaling on cross-validated decision values (what
            # SVC(probability=True), deprecated in scikit-learn 1.9, did internally).
            svc = SVC(C=hp["C"], kernel="rbf", gamma=hp["gamma"])
            clf = CalibratedClassifierCV(svc, method="sigmoid", cv=_calibration_folds(hp), ensemble=False)
        elif hp["classifier"] == "knn":
            clf = KNeighborsClassifier(n_neighbors=hp["n_neighbors"], weights="distance")
        elif hp["classifier"] == "logreg":
            from sklearn.linear_model import LogisticRegression

            clf = LogisticRegression(C=hp["C"], max_iter=hp["max_iter"])
        else:
            clf = MLPClassifier(
                hidden_layer_sizes=(hp["mlp_hidden"],),
                alpha=hp["mlp_alpha"],
                max_iter=hp["max_iter"],
                random_state=hp["seed"],
            )
        # keep_empty_features: a feature NaN in every training clip stays a (zero) column, so
        # that the width the model expects never depends on the training clips.
        imputer = SimpleImputer(strategy="mean", keep_empty_features=True)
        return Pipeline([("impute", imputer), ("scaler", StandardScaler()), ("clf", clf)])

    def fit(self, pipeline, X: np.ndarray, y: np.ndarray, hp: dict):
        """Fit; with `balanced`, as sample weights so that the SVM's Platt calibration is balanced
        too (class_weight alone would leave the calibrated probabilities skewed to the majority).

        `X`: float32 (N, 188 or 94) features; `y`: int class indices (N,). Returns the fitted
        `pipeline` (kNN ignores `balanced`). The SVM's calibration uses 3 stratified folds, or 2
        when a class has only 2 training clips (a cross-validation fold of a small corpus).

        Raises:
            ValueError: classifier "svm" with a class of a single training clip (Platt scaling
                needs it in two calibration folds).
        """
        if hp["classifier"] == "svm":
            fewest = int(np.bincount(y)[np.unique(y)].min()) if len(y) else 0
            if fewest < 2:
                raise ValueError(
                    "the SVM's probability calibration needs at least 2 training clips of each label, "
                    f"and one label has {fewest}: choose classifier 'logreg', 'knn' or 'mlp', or a "
                    "release (or fewer folds) with more clips per label"
                )
            pipeline.set_params(clf__cv=_calibration_folds(hp, n_splits=min(3, fewest)))
        if hp["balanced"] and hp["classifier"] != "knn":
            from sklearn.utils.class_weight import compute_sample_weight

            return pipeline.fit(X, y, clf__sample_weight=compute_sample_weight("balanced", y))
        return pipeline.fit(X, y)

    def fit_model(self, X: np.ndarray, y: np.ndarray, voices, hp: dict):
        """The fitted `speaker_norm.VoiceNormalisedModel`: `plain` fitted on X as it is, and, with
        `speaker_norm`, `per_voice` fitted on the clips of the training voices that have
        `speaker_norm_min_clips` clips, each voice standardised by its own statistics (None when
        no voice has that many, or those clips hold a single class, or, for the SVM, a label of a
        single clip).

        `X`: float (N, d) features; `y`: int class indices (N,); `voices`: N voice keys ("" =
        unknown) or None. Raises ValueError as `fit`.
        """
        from .speaker_norm import VoiceNormalisedModel, speaker_standardise, voice_groups

        min_clips = hp["speaker_norm_min_clips"]
        plain = self.fit(self.build_pipeline(hp), X, y, hp)
        per_voice = None
        groups = voice_groups(voices, len(X), min_clips=min_clips) if hp["speaker_norm"] else {}
        if groups:
            ix = np.sort(np.concatenate(list(groups.values())))
            counts = np.bincount(y[ix])
            counts = counts[counts > 0]
            # The SVM's calibration needs 2 clips of every label it sees (`fit`); the plain model
            # then serves every voice rather than the run failing.
            if len(counts) >= 2 and (hp["classifier"] != "svm" or counts.min() >= 2):
                Xn = speaker_standardise(X, groups)
                per_voice = self.fit(self.build_pipeline(hp), Xn[ix], y[ix], hp)
        return VoiceNormalisedModel(plain=plain, per_voice=per_voice, min_clips=min_clips)

    def features(self, waves: list[np.ndarray], preprocessing: dict, n_jobs: int = 1) -> np.ndarray:
        """Clip features of each preprocessed float32 16 kHz clip, float32 (N, d): by
        `preprocessing["feature_set"]` ('handcrafted' when absent: models saved before it),
        `features.handcrafted` (188, or 94 without `with_std`), `features.egemaps` (88, NaN where
        openSMILE could not compute a functional) or both side by side; over `n_jobs` joblib
        processes when there are more than 50 clips."""
        from .features import EGEMAPS_DIM, egemaps, handcrafted

        feature_set = preprocessing.get("feature_set", "handcrafted")
        with_std = preprocessing["with_std"]
        dim = (188 if with_std else 94) * ("handcrafted" in feature_set) + EGEMAPS_DIM * (
            "egemaps" in feature_set
        )
        if not waves:
            return np.zeros((0, dim), dtype=np.float32)

        def one(w: np.ndarray) -> np.ndarray:
            parts = []
            if "handcrafted" in feature_set:
                parts.append(handcrafted(w, SAMPLE_RATE, with_std=with_std))
            if "egemaps" in feature_set:
                parts.append(egemaps(w, SAMPLE_RATE))
            return np.concatenate(parts)

        if n_jobs > 1 and len(waves) > 50:
            from joblib import Parallel, delayed

            rows = Parallel(n_jobs=n_jobs)(delayed(one)(w) for w in waves)
        else:
            rows = [one(w) for w in waves]
        return np.stack(rows).astype(np.float32)

    def export(self, model, hp, labels, preprocessing, out_dir):
        """Write model.joblib (the pickled `VoiceNormalisedModel`) and config.json (with
        `sklearn_version`)."""
        import joblib
        import sklearn

        joblib.dump(model, out_dir / "model.joblib")
        config = _base_config(
            self.name,
            hp,
            labels,
            preprocessing,
            weights="model.joblib",
            sklearn_version=sklearn.__version__,
            note="model.joblib is a pickled scikit-learn model: load it only with the same scikit-learn "
            "version, and only from a trusted source (unpickling runs code).",
        )
        _write_json(out_dir / "config.json", config)

    def load(self, artifact_dir, config):
        """(`VoiceNormalisedModel`, preprocessing); a model saved as a bare Pipeline (before speaker
        normalisation) comes back as its `plain` model. Raises ValueError when the model was saved
        with another scikit-learn version (unpickling across versions is unsafe)."""
        import joblib
        import sklearn

        if config.get("sklearn_version") != sklearn.__version__:
            raise ValueError(
                f"{artifact_dir} was saved with scikit-learn {config.get('sklearn_version')}; "
                f"this is {sklearn.__version__}: retrain or export again"
            )
        from .speaker_norm import VoiceNormalisedModel

        model = joblib.load(artifact_dir / config["weights"])
        if not isinstance(model, VoiceNormalisedModel):  # saved before speaker normalisation: a Pipeline
            model = VoiceNormalisedModel(plain=model, per_voice=None, min_clips=2)
        return model, config["preprocessing"]


def _calibration_folds(hp: dict, n_splits: int = 3):
    from sklearn.model_selection import StratifiedKFold

    return StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=hp["seed"])


FAMILIES: dict[str, Family] = {
    f.name: f
    for f in (TransformerFamily(), MfccLstmFamily(), LogmelCnnFamily(), ClassicalFamily(), MelImageFamily())
}
FAMILY_NAMES = tuple(FAMILIES)


def get_family(name: str) -> Family:
    """The family registered as `name`; ValueError listing the known names otherwise."""
    try:
        return FAMILIES[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown model family {name!r}; choose one of {', '.join(FAMILY_NAMES)}") from None


def default_hparams(family: str, device: str = "cpu") -> dict:
    """`Family.default_hparams` of the family named `family` for `device` (ValueError if unknown)."""
    return get_family(family).default_hparams(device)


def validate(
    family: str, hparams: dict | None = None, *, device: str = "auto", precision: str = "fp32"
) -> dict:
    """`Family.validate` of the family named `family`: the full hyper-parameter dict, or
    ValueError (unknown family, device, precision, name, value or combination)."""
    return get_family(family).validate(hparams, device=device, precision=precision)
