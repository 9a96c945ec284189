"""The TuniSER classifier on a self-supervised speech encoder, as a transformers model.

Exported transformer-family models are directories holding this file (with `audio.py` and
`nets.py`, its relative imports), so that they load anywhere with

    transformers.pipeline("audio-classification", model=<dir>, trust_remote_code=True)

Hence: imports are limited to torch, numpy and transformers plus `.audio` and `.nets` (copied
with it), and nothing here, there or in their imports may depend on the rest of `training.ml`.

Model: encoder (wav2vec 2.0 / HuBERT / WavLM, any `AutoModel` speech encoder) -> per-frame states
(last layer, or a learned softmax-weighted sum of all layers) -> mean over the valid frames ->
the TuniSER head of Table 2: dropout, linear, tanh, dropout, linear.
"""

import numpy as np
import torch
from torch import nn
from transformers import AutoConfig, AutoModel, PreTrainedConfig, PreTrainedModel, Wav2Vec2FeatureExtractor
from transformers.modeling_outputs import SequenceClassifierOutput

from .audio import SAMPLE_RATE, preprocess
from .nets import TuniserHead


class TuniserConfig(PreTrainedConfig):
    """`encoder_config` is the encoder's own config as a dict (with its `model_type`).

    `pooling`: 'mean' (last layer) or 'weighted' (softmax-weighted sum of all hidden states);
    `head_hidden_size` units and `head_dropout` probability of the TuniSER head; the classes
    come from the usual `id2label` / `label2id`. Nothing is checked here: the model checks
    `encoder_config` and `pooling` when built.

    `family`, `hparams` and `preprocessing` record how the model was trained; the preprocessing
    is what `TuniserFeatureExtractor` applies (trim_db, max_s), kept here too so that one file
    describes the model.
    """

    model_type = "tuniser_ser"

    encoder_config: dict | None = None
    pooling: str = "mean"
    head_hidden_size: int = 256
    head_dropout: float = 0.1
    family: str = "transformer"
    hparams: dict | None = None
    preprocessing: dict | None = None


class TuniserForAudioClassification(PreTrainedModel):
    """Speech encoder + pooling + TuniSER head, loadable with `AutoModelForAudioClassification`.

    The encoder is built from `config.encoder_config` with random weights (`from_pretrained`, or
    the training code for a pretrained encoder, then loads real ones): wav2vec 2.0 (Baevski et
    al. 2020), HuBERT (Hsu et al. 2021) or WavLM (Chen et al. 2022). Pooling 'weighted' is the
    learned layer average of the SUPERB benchmark (Yang et al. 2021), initialised uniform.
    Raises ValueError when `config.encoder_config` is empty or `config.pooling` is neither
    'mean' nor 'weighted'.
    """

    config_class = TuniserConfig
    base_model_prefix = "backbone"
    main_input_name = "input_values"
    input_modalities = "audio"
    supports_gradient_checkpointing = True

    def __init__(self, config: TuniserConfig):
        super().__init__(config)
        if not config.encoder_config:
            raise ValueError(
                "TuniserConfig.encoder_config is required (the speech encoder's config as a dict)"
            )
        encoder = dict(config.encoder_config)
        self.backbone = AutoModel.from_config(AutoConfig.for_model(encoder.pop("model_type"), **encoder))
        hidden = self.backbone.config.hidden_size
        if config.pooling == "weighted":
            # One weight per hidden state: the CNN/projection output plus every transformer layer.
            self.layer_weights = nn.Parameter(torch.zeros(self.backbone.config.num_hidden_layers + 1))
        elif config.pooling != "mean":
            raise ValueError(f"pooling must be 'mean' or 'weighted', not {config.pooling!r}")
        self.head = TuniserHead(hidden, config.head_hidden_size, config.num_labels, config.head_dropout)
        self.post_init()

    @torch.no_grad()
    def _init_weights(self, module):
        super()._init_weights(module)
        if module is self and self.config.pooling == "weighted":
            self.layer_weights.zero_()  # uniform softmax: start from the plain average of layers

    def freeze_feature_encoder(self):
        """Stop gradients to the encoder's convolutional feature encoder (the encoder's own
        `freeze_feature_encoder`, which wav2vec 2.0, HuBERT and WavLM models have)."""
        self.backbone.freeze_feature_encoder()

    def freeze_backbone(self):
        """Stop gradients to every encoder parameter (linear probing: only the head, and the
        layer weights, learn); `forward` then runs the encoder without a graph."""
        for p in self.backbone.parameters():
            p.requires_grad = False

    def forward(
        self,
        input_values: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        **kwargs,
    ) -> SequenceClassifierOutput:
        """`input_values` float (B, L): 16 kHz waveforms as `TuniserFeatureExtractor` makes them;
        `attention_mask` (B, L), 1 on real samples (None: every frame counts); `labels` int64
        (B,) class ids. Returns `logits` (B, num_labels) and, with labels, `loss`: the mean
        cross-entropy, computed in float32. Other keyword arguments are ignored.
        """
        weighted = self.config.pooling == "weighted"
        # A frozen encoder needs no graph: probing then costs one inference pass.
        encoder_grad = torch.is_grad_enabled() and any(p.requires_grad for p in self.backbone.parameters())
        with torch.set_grad_enabled(encoder_grad):
            out = self.backbone(input_values, attention_mask=attention_mask, output_hidden_states=weighted)
        if weighted:
            weights = torch.softmax(self.layer_weights, dim=0)
            states = torch.stack(out.hidden_states, dim=0)
            hidden = (states * weights.to(states.dtype).view(-1, 1, 1, 1)).sum(dim=0)
        else:
            hidden = out.last_hidden_state
        if attention_mask is None:
            pooled = hidden.mean(dim=1)
        else:
            frames = self.backbone._get_feature_vector_attention_mask(hidden.shape[1], attention_mask)
            frames = frames.to(hidden.dtype).unsqueeze(-1)
            pooled = (hidden * frames).sum(dim=1) / frames.sum(dim=1).clamp(min=1.0)
        logits = self.head(pooled)
        loss = None
        if labels is not None:
            loss = nn.functional.cross_entropy(logits.float(), labels)
        return SequenceClassifierOutput(loss=loss, logits=logits)


class TuniserFeatureExtractor(Wav2Vec2FeatureExtractor):
    """Wav2Vec2's extractor (pad, per-clip zero-mean unit-variance) after the platform's
    `audio.preprocess` (silence trim at `trim_db`, centre crop to `max_s`), so that the pipeline
    sees clips exactly as training did.

    `trim_db` in dB, `max_s` in seconds (None disables each). Called on one clip (a 1-D array or
    list of floats) or a batch of them, at `sampling_rate` Hz (default 16 kHz; other rates are
    resampled to 16 kHz by `preprocess`); other arguments go to Wav2Vec2FeatureExtractor.
    """

    def __init__(self, trim_db: float | None = 30.0, max_s: float | None = None, **kwargs):
        kwargs.setdefault("sampling_rate", SAMPLE_RATE)
        kwargs.setdefault("return_attention_mask", True)
        super().__init__(**kwargs)
        self.trim_db = trim_db
        self.max_s = max_s

    def __call__(self, raw_speech, *args, sampling_rate: int | None = None, **kwargs):
        sr = sampling_rate or self.sampling_rate
        one = (isinstance(raw_speech, np.ndarray) and raw_speech.ndim == 1) or (
            isinstance(raw_speech, (list, tuple)) and len(raw_speech) > 0 and np.isscalar(raw_speech[0])
        )
        clips = [raw_speech] if one else list(raw_speech)
        clips = [
            preprocess(np.asarray(c, dtype=np.float32), sr, trim_db=self.trim_db, max_s=self.max_s)
            for c in clips
        ]
        return super().__call__(clips[0] if one else clips, *args, sampling_rate=self.sampling_rate, **kwargs)
