"""The torch networks of the platform's model families, and the TuniSER classifier head.

Imports only torch: `modeling_tuniser.py` imports `TuniserHead` from here, and transformers copies
this file with it into exported transformer models.
"""

from __future__ import annotations

import torch
from torch import nn


class TuniserHead(nn.Module):
    """Table 2 of the TuniSER paper: dropout -> linear -> tanh -> dropout -> linear.

    `in_features` -> `hidden` -> `n_classes` units; `dropout` is the probability of both dropout
    layers (the layout of transformers' `RobertaClassificationHead`).
    """

    def __init__(self, in_features: int, hidden: int, n_classes: int, dropout: float):
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.dense = nn.Linear(in_features, hidden)
        self.out_proj = nn.Linear(hidden, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled features, float (B, in_features) -> logits (B, n_classes)."""
        x = torch.tanh(self.dense(self.dropout(x)))
        return self.out_proj(self.dropout(x))


class MfccLstm(nn.Module):
    """The TuniSER paper's LSTM baseline: standardised MFCC frames -> (bi)LSTM -> mean over the
    valid frames -> TuniSER head. `mean`/`std` are the training set's per-coefficient statistics,
    kept as buffers so that they travel with the weights.

    `hidden` LSTM units per direction, `num_layers` stacked layers, `dropout` between them (when
    more than one) and in the head, `head_hidden` units in the head.
    """

    def __init__(
        self,
        *,
        n_mfcc: int,
        hidden: int,
        num_layers: int,
        bidirectional: bool,
        dropout: float,
        head_hidden: int,
        n_classes: int,
    ):
        super().__init__()
        self.register_buffer("mean", torch.zeros(n_mfcc))
        self.register_buffer("std", torch.ones(n_mfcc))
        self.lstm = nn.LSTM(
            n_mfcc,
            hidden,
            num_layers=num_layers,
            batch_first=True,
            bidirectional=bidirectional,
            dropout=dropout if num_layers > 1 else 0.0,
        )
        self.head = TuniserHead(hidden * (2 if bidirectional else 1), head_hidden, n_classes, dropout)

    def forward(self, features: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """`features` float (B, T, n_mfcc), zero-padded MFCC frames; `lengths` int64 (B,), valid
        frames per clip, each in 1..T (`pack_padded_sequence` raises RuntimeError on 0). Returns
        logits (B, n_classes)."""
        x = (features - self.mean) / self.std
        packed = nn.utils.rnn.pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        out, _ = self.lstm(packed)
        out, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
        valid = (torch.arange(x.shape[1], device=x.device)[None, :] < lengths[:, None]).to(out.dtype)
        pooled = (out * valid[..., None]).sum(dim=1) / valid.sum(dim=1, keepdim=True).clamp(min=1.0)
        return self.head(pooled)


def _vgg_block(c_in: int, c_out: int, n_convs: int) -> list[nn.Module]:
    layers: list[nn.Module] = []
    for i in range(n_convs):
        layers += [
            nn.Conv2d(c_in if i == 0 else c_out, c_out, kernel_size=3, padding=1, bias=False),
            nn.BatchNorm2d(c_out),
            nn.ReLU(inplace=True),
        ]
    layers.append(nn.MaxPool2d(2))
    return layers


class VggishCnn(nn.Module):
    """A VGGish-like CNN trained from scratch on (1, 96, 64) log-mel patches.

    The four conv blocks of VGGish (Hershey et al. 2017): 1, 1, 2, 2 3x3 convolutions, each block
    ending in a 2x2 max-pool that halves time and frequency, here at `width` x (1, 2, 4, 8)
    channels, with batch norm; global average pooling and the TuniSER head
    replace VGGish's two 4096-unit layers, which would dwarf SER-sized datasets. Patch logits
    are averaged per clip ("average logits clip accuracy" in the TuniSER paper), in training and
    in inference alike. `mean` / `std` are scalar buffers: the training patches' overall statistics.
    """

    def __init__(self, *, width: int, dropout: float, head_hidden: int, n_classes: int):
        super().__init__()
        self.register_buffer("mean", torch.zeros(()))
        self.register_buffer("std", torch.ones(()))
        w = width
        self.features = nn.Sequential(
            *_vgg_block(1, w, 1),
            *_vgg_block(w, 2 * w, 1),
            *_vgg_block(2 * w, 4 * w, 2),
            *_vgg_block(4 * w, 8 * w, 2),
        )
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = TuniserHead(8 * w, head_hidden, n_classes, dropout)

    def forward(self, patches: torch.Tensor, clip_index: torch.Tensor, n_clips: torch.Tensor) -> torch.Tensor:
        """`patches` float (P, 1, 96, 64) log-mel patches of a batch of clips; `clip_index` int64
        (P,), the clip (0..n_clips-1) of each patch; `n_clips` an int or 0-d tensor. Returns the
        mean patch logits per clip, (n_clips, n_classes); a clip without patches gets zeros."""
        x = (patches - self.mean) / self.std
        patch_logits = self.head(self.pool(self.features(x)).flatten(1))
        n = int(n_clips)
        sums = torch.zeros(n, patch_logits.shape[1], device=x.device, dtype=patch_logits.dtype)
        sums.index_add_(0, clip_index, patch_logits)
        counts = torch.bincount(clip_index, minlength=n).clamp(min=1).to(patch_logits.dtype)
        return sums / counts[:, None]


# --------------------------------------------------------------------------------------------
# Second-generation nets (issue #14): whole-utterance inputs, attentive statistics pooling.
# The classes above stay as they are: exported models record their constructor arguments in
# config.json (`model_args`) and must keep loading.


def _valid_mask(lengths: torch.Tensor, n_frames: int) -> torch.Tensor:
    """Bool (B, n_frames): True on the first `lengths[b]` frames of row b."""
    return torch.arange(n_frames, device=lengths.device)[None, :] < lengths[:, None]


class AttentiveStatsPool(nn.Module):
    """Attentive statistics pooling (Okabe et al., Interspeech 2018): a one-hidden-layer scorer
    gives each frame a weight (softmax over the valid frames); the output is the weighted mean
    and the weighted standard deviation of the frames, concatenated.

    `channels` features per frame, `hidden` units of the scorer. Input (B, channels, T) and a
    bool mask (B, T) of valid frames (at least one per row); output (B, 2 * channels).
    """

    def __init__(self, channels: int, hidden: int = 64):
        super().__init__()
        self.attention = nn.Sequential(nn.Conv1d(channels, hidden, 1), nn.Tanh(), nn.Conv1d(hidden, 1, 1))

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        scores = self.attention(x).squeeze(1).float()
        scores = scores.masked_fill(~mask, float("-inf"))
        w = torch.softmax(scores, dim=1).to(x.dtype)[:, None, :]
        mean = (x * w).sum(dim=-1)
        var = (x * x * w).sum(dim=-1) - mean * mean
        return torch.cat([mean, var.clamp(min=1e-5).sqrt()], dim=1)


class MfccAttnLstm(MfccLstm):
    """`MfccLstm` with attentive statistics pooling (`AttentiveStatsPool`) instead of the mean of
    the frames; same constructor arguments (the head sees twice the LSTM's output width)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        out = self.lstm.hidden_size * (2 if self.lstm.bidirectional else 1)
        self.pool = AttentiveStatsPool(out)
        head = self.head
        self.head = TuniserHead(2 * out, head.dense.out_features, head.out_proj.out_features, head.dropout.p)

    def forward(self, features: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """As `MfccLstm.forward`: (B, T, n_mfcc) frames and (B,) lengths -> logits (B, n_classes)."""
        x = (features - self.mean) / self.std
        packed = nn.utils.rnn.pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        out, _ = self.lstm(packed)
        out, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
        pooled = self.pool(out.transpose(1, 2), _valid_mask(lengths, x.shape[1]))
        return self.head(pooled)


class LogmelAttnCnn(nn.Module):
    """A log-mel CNN from scratch on whole utterances, with attentive statistics pooling.

    `blocks` blocks of 3x3 convolutions (one in the first two blocks, two after, as VGGish; batch
    norm, ReLU) each ending in a 2x2 max-pool, at `width` x
    (1, 2, 4, 8, ...) channels; the frequency axis that is left is flattened into the channels, and
    `AttentiveStatsPool` pools over time (padding excluded) into the TuniSER head. Input: (B, T,
    n_mels) log-mel frames (standardised per utterance by the featuriser, then by the scalar
    `mean` / `std` buffers: the training frames' statistics) and their lengths.
    """

    def __init__(
        self, *, n_mels: int, width: int, blocks: int, dropout: float, head_hidden: int, n_classes: int
    ):
        super().__init__()
        self.register_buffer("mean", torch.zeros(()))
        self.register_buffer("std", torch.ones(()))
        layers: list[nn.Module] = []
        c_in = 1
        for i in range(blocks):
            c_out = width * 2**i
            # VGGish's 1, 1, 2, 2 convolutions: one at the two finest resolutions, where on a CPU
            # the activations' memory traffic, not the arithmetic, sets the time.
            layers += _vgg_block(c_in, c_out, 1 if i < 2 else 2)
            c_in = c_out
        self.features = nn.Sequential(*layers)
        self.blocks = blocks
        channels = c_in * max(1, n_mels // 2**blocks)
        self.pool = AttentiveStatsPool(channels)
        self.head = TuniserHead(2 * channels, head_hidden, n_classes, dropout)

    def forward(self, features: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """`features` float (B, T, n_mels), zero-padded after each clip's `lengths` (int64 (B,),
        1..T) frames. Returns logits (B, n_classes). T shorter than 2**blocks frames is padded."""
        factor = 2**self.blocks
        features = (features - self.mean) / self.std
        if features.shape[1] < factor:
            features = nn.functional.pad(features, (0, 0, 0, factor - features.shape[1]))
        # Zero every activation past a clip's end (after each ReLU and pool, the pools rounding
        # down as they do for the clip alone): the convolutions then see the zero padding that
        # a clip alone sees at its edge, and a clip's logits do not depend on its batch.
        lens = lengths.clamp(min=1)
        x = features[:, None] * _valid_mask(lens, features.shape[1])[:, None, :, None]
        for layer in self.features:
            x = layer(x)
            if isinstance(layer, nn.MaxPool2d):
                lens = (lens // 2).clamp(min=1)
            if isinstance(layer, (nn.ReLU, nn.MaxPool2d)):
                x = x * _valid_mask(lens, x.shape[2])[:, None, :, None].to(x.dtype)
        b, c, t, f = x.shape  # (B, C, T', F')
        x = x.permute(0, 1, 3, 2).reshape(b, c * f, t)
        return self.head(self.pool(x, _valid_mask(lens.clamp(max=t), t)))
