"""The second-generation families (issue #14): attentive-pooling nets, per-utterance frames,
mixup, cosine schedule, checkpoint averaging, GPU defaults, the mel_image family's
torchvision-named ResNet / VGG, and models exported by the first versions still loading.

No database. Tiny random nets on a few real EmoDB clips: the file runs in seconds.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from training.ml import audio, families
from training.ml.data import UtteranceFrames, mix_batch, utterance_normalise
from training.ml.engine import Dataset, train
from training.ml.image_nets import ARCHS, load_imagenet_state_dict, make_image_net
from training.ml.nets import MfccLstm, VggishCnn
from training.ml.predict import load_predictor

LABELS = ["angry", "neutral"]


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def clips(data_dir) -> Dataset:
    """12 EmoDB clips (2 s): anger (W) and neutral (N), 6 each."""
    samples, labels = [], []
    for letter, y in (("W", 0), ("N", 1)):
        for path in sorted((data_dir / "emodb").glob(f"*{letter}?.flac"))[:6]:
            samples.append(audio.load_audio(path))
            labels.append(y)
    return Dataset(samples, np.array(labels))


def _train(family, data, workdir, hparams, val=None):
    return train(
        family=family,
        hparams=hparams,
        train=data,
        val=data if val is None else val,
        test=data,
        labels=LABELS,
        workdir=workdir,
        device="cpu",
        resume=False,
    )


# --- torchvision naming


def _resnet18_keys() -> list[str]:
    """torchvision.models.resnet18().state_dict() keys, from its documented architecture."""
    bn = ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"]
    keys = ["conv1.weight", *(f"bn1.{b}" for b in bn)]
    for layer in range(1, 5):
        for block in range(2):
            p = f"layer{layer}.{block}"
            keys += [f"{p}.conv1.weight", *(f"{p}.bn1.{b}" for b in bn)]
            keys += [f"{p}.conv2.weight", *(f"{p}.bn2.{b}" for b in bn)]
            if layer > 1 and block == 0:
                keys += [f"{p}.downsample.0.weight", *(f"{p}.downsample.1.{b}" for b in bn)]
    return keys  # then fc.weight, fc.bias: the classifier, replaced here


def test_resnet18_parameter_names_are_torchvision_s():
    net = make_image_net(arch="resnet18", base_width=64, n_classes=4, dropout=0.5)
    keys = [k for k in net.state_dict() if not k.startswith("fc.")]
    assert keys == _resnet18_keys()
    assert net.state_dict()["layer2.0.downsample.0.weight"].shape == (128, 64, 1, 1)
    assert net.state_dict()["conv1.weight"].shape == (64, 3, 7, 7)
    # torchvision's resnet18 has 11,689,512 parameters, 513,000 of them in its 1000-class fc.
    body = sum(p.numel() for n, p in net.named_parameters() if not n.startswith("fc."))
    assert body == 11_689_512 - 513_000


def test_vgg16_feature_indices_are_torchvision_s():
    net = make_image_net(arch="vgg16", base_width=64, n_classes=4, dropout=0.5)
    convs = [k for k in net.state_dict() if k.startswith("features.") and k.endswith(".weight")]
    # torchvision vgg16: convolutions at these indices of `features` (ReLU and max-pool between).
    idx = [0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28]
    assert convs == [f"features.{i}.weight" for i in idx]
    # vgg19_bn: 16 convolutions, each followed by a batch norm (conv at i, bn at i + 1).
    bn = make_image_net(arch="vgg19_bn", base_width=64, n_classes=4, dropout=0.5).state_dict()
    assert "features.1.running_mean" in bn and "features.49.weight" in bn and "features.52.weight" not in bn
    assert families.IMAGE_ARCHS == ARCHS


def test_a_local_imagenet_state_dict_loads_except_the_classifier(tmp_path):
    torch.manual_seed(0)
    net = make_image_net(arch="resnet18", base_width=8, n_classes=4, dropout=0.5)
    torch.manual_seed(1)
    donor = make_image_net(arch="resnet18", base_width=8, n_classes=4, dropout=0.5).state_dict()
    state = {k: v for k, v in donor.items() if not k.startswith("fc.")}
    state["fc.weight"] = torch.randn(1000, 64)  # torchvision's ImageNet classifier: dropped
    state["fc.bias"] = torch.randn(1000)
    torch.save(state, tmp_path / "resnet18.pth")
    head_before = net.fc[0].weight.clone()
    assert not torch.equal(net.conv1.weight, donor["conv1.weight"])

    loaded = load_imagenet_state_dict(net, tmp_path / "resnet18.pth")

    assert torch.equal(net.conv1.weight, donor["conv1.weight"])
    assert torch.equal(net.layer4[1].bn2.running_var, donor["layer4.1.bn2.running_var"])
    assert torch.equal(net.fc[0].weight, head_before)
    assert "conv1.weight" in loaded and not any(k.startswith("fc.") for k in loaded)

    wider = make_image_net(arch="resnet18", base_width=16, n_classes=4, dropout=0.5)
    with pytest.raises(ValueError, match="conv1.weight has shape"):
        load_imagenet_state_dict(wider, tmp_path / "resnet18.pth")
    del state["layer1.0.conv1.weight"]
    torch.save(state, tmp_path / "partial.pth")
    with pytest.raises(ValueError, match="lacks 1 weights"):
        load_imagenet_state_dict(net, tmp_path / "partial.pth")


def test_mel_image_pretrained_path_is_checked(clips, tmp_path):
    with pytest.raises(ValueError, match="needs base_width 64"):
        families.validate("mel_image", {"pretrained_path": "/x.pth"}, device="cpu")
    with pytest.raises(ValueError, match="is not a file"):
        _train("mel_image", clips, tmp_path, {"pretrained_path": str(tmp_path / "no.pth"), "base_width": 64})


def test_mel_image_trains_from_scratch_and_predicts(clips, tmp_path):
    torch.manual_seed(0)
    net = make_image_net(arch="vgg16_bn", base_width=4, n_classes=2, dropout=0.5)
    x = torch.randn(3, 3, 64, 20)  # narrower than 32 frames: padded inside
    loss = torch.nn.functional.cross_entropy(net(x), torch.tensor([0, 1, 0]))
    loss.backward()
    assert net.features[0].weight.grad.abs().sum() > 0

    hp = {"epochs": 2, "base_width": 4, "channels": "deltas", "batch_size": 6}
    result = _train("mel_image", clips, tmp_path, hp)
    config = json.loads((result.artifact_dir / "config.json").read_text())
    assert config["family"] == "mel_image" and config["model_args"]["arch"] == "resnet18"
    assert config["preprocessing"]["channels"] == "deltas"
    proba = load_predictor(result.artifact_dir).predict_proba(clips.samples[:3])
    assert proba.shape == (3, 2) and np.allclose(proba.sum(axis=1), 1.0)


# --- defaults and validation


def test_gpu_defaults_apply_on_cuda_unless_overridden():
    cpu = families.validate("logmel_cnn", {}, device="cpu")
    gpu = families.validate("logmel_cnn", {}, device="cuda:0")
    assert (cpu["width"], cpu["epochs"]) == (16, 40)
    assert (gpu["width"], gpu["epochs"]) == (32, 80)
    assert families.validate("logmel_cnn", {"width": 8}, device="cuda")["width"] == 8
    assert families.validate("mel_image", {}, device="cuda")["arch"] == "vgg19_bn"
    assert families.default_hparams("mel_image", "cuda")["image_size"] == 224
    with pytest.raises(ValueError, match="mixup needs arch 'attn_cnn'"):
        families.validate("logmel_cnn", {"arch": "vggish_patches", "mixup": 0.2}, device="cpu")
    with pytest.raises(ValueError, match="average_top must be <= 10"):
        families.validate("mfcc_lstm", {"average_top": 11}, device="cpu")
    with pytest.raises(ValueError, match="lr_schedule must be one of"):
        families.validate("mfcc_lstm", {"lr_schedule": "step"}, device="cpu")


# --- featurisation and mixup


def test_utterance_frames_normalise_and_crop_in_training_only(clips):
    x = np.random.default_rng(0).normal(3.0, 5.0, size=(50, 4)).astype(np.float32)
    z = utterance_normalise(x)
    assert np.allclose(z.mean(axis=0), 0, atol=1e-5) and np.allclose(z.std(axis=0), 1, atol=1e-3)

    hp = families.validate("logmel_cnn", {"crop_s": 0.5}, device="cpu")
    pre = families.get_family("logmel_cnn").preprocessing(hp)
    wave = clips.samples[0]
    full = UtteranceFrames(hp, pre, train=False)(wave, None)
    crop = UtteranceFrames(hp, pre, train=True)(wave, np.random.default_rng(0))
    assert full.shape == (1 + (len(wave) - 512) // 160, 64)
    assert crop.shape == (50, 64)


def test_mix_batch_mixes_inputs_and_keeps_the_longer_length():
    batch = {"features": torch.tensor([[[1.0]], [[3.0]]]), "lengths": torch.tensor([1, 5])}
    mixed = mix_batch(batch, torch.tensor([1, 0]), 0.25)
    assert torch.allclose(
        mixed["features"].flatten(), torch.tensor([0.25 * 1 + 0.75 * 3, 0.25 * 3 + 0.75 * 1])
    )
    assert mixed["lengths"].tolist() == [5, 5]
    with pytest.raises(ValueError, match="cannot mix the batch input 'patches'"):
        mix_batch({"patches": torch.zeros(2)}, torch.tensor([1, 0]), 0.5)


# --- engine: schedule, checkpoint averaging


def test_cosine_schedule_decays_along_half_a_cosine(clips, tmp_path):
    hp = {"epochs": 4, "width": 4, "batch_size": 12, "warmup_ratio": 0.0, "lr": 1e-3, "mixup": 0.0}
    cos = _train("logmel_cnn", clips, tmp_path / "cos", {**hp, "lr_schedule": "cosine", "average_top": 1})
    lin = _train("logmel_cnn", clips, tmp_path / "lin", {**hp, "lr_schedule": "linear", "average_top": 1})
    # one step per epoch: after epoch 1 of 4, 3/4 of the steps are left
    assert cos.history[0]["lr"][0] == pytest.approx(1e-3 * 0.5 * (1 - math.cos(math.pi * 0.75)))
    assert lin.history[0]["lr"][0] == pytest.approx(1e-3 * 0.75)
    assert cos.history[-1]["lr"][0] == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("average_of", ["best", "last"])
def test_checkpoint_averaging_exports_the_mean_of_the_kept_epochs(clips, tmp_path, average_of):
    from safetensors.torch import load_file

    hp = {"epochs": 12, "hidden": 8, "head_hidden": 8, "batch_size": 12, "average_top": 3, "patience": None}
    empty = Dataset([], np.zeros(0, dtype=np.int64))
    # no validation: the average is kept in both modes
    result = _train("mfcc_lstm", clips, tmp_path, {**hp, "average_of": average_of}, val=empty)
    assert result.averaged_epochs is not None and len(result.averaged_epochs) == 3
    if average_of == "last":
        assert result.averaged_epochs == [10, 11, 12]
    short = _train("mfcc_lstm", clips, tmp_path / "short", {**hp, "epochs": 8, "average_top": 5}, val=empty)
    assert len(short.averaged_epochs) == 2  # at most a quarter of the epochs
    kept = [torch.load(tmp_path / f"top-{e}.pt", weights_only=True)["model"] for e in result.averaged_epochs]
    exported = load_file(str(result.artifact_dir / "model.safetensors"))
    w = "lstm.weight_hh_l0"
    assert torch.allclose(exported[w], torch.stack([k[w] for k in kept]).mean(dim=0), atol=1e-6)
    assert not torch.allclose(exported[w], kept[0][w])
    assert len(list(tmp_path.glob("top-*.pt"))) == 3


def test_mixup_run_trains_and_predicts_like_its_test_evaluation(clips, tmp_path):
    hp = {"epochs": 8, "width": 4, "batch_size": 12, "mixup": 0.4, "average_top": 2, "average_of": "best"}
    result = _train("logmel_cnn", clips, tmp_path, hp)
    proba = load_predictor(result.artifact_dir).predict_proba(clips.samples)
    assert (proba.argmax(1) == clips.labels).mean() == pytest.approx(result.test_metrics["wa"])


# --- models exported by the first versions


def _write_old_artifact(directory: Path, family: str, net, model_args: dict, preprocessing: dict, hp: dict):
    from safetensors.torch import save_file

    directory.mkdir()
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(directory / "model.safetensors"))
    config = {
        "format": "tuniser-studio-model",
        "format_version": 1,
        "family": family,
        "labels": LABELS,
        "id2label": {"0": "angry", "1": "neutral"},
        "label2id": {"angry": 0, "neutral": 1},
        "hparams": hp,
        "preprocessing": preprocessing,
        "model_args": model_args,
        "weights": "model.safetensors",
    }
    (directory / "config.json").write_text(json.dumps(config))


_OLD_TORCH_HP = {
    "trim_db": 30.0,
    "max_clip_s": 10.0,
    "seed": 0,
    "batch_size": 4,
    "spec_time_mask": 0.5,
    "spec_freq_mask": 0.5,
    "spec_time_width": 20,
    "spec_freq_width": 8,
}


def test_models_exported_by_the_first_versions_still_load(clips, tmp_path):
    from training.ml.features import logmel_patches, mfcc_frames

    torch.manual_seed(0)
    cnn = VggishCnn(width=4, dropout=0.1, head_hidden=8, n_classes=2).eval()
    _write_old_artifact(
        tmp_path / "cnn",
        "logmel_cnn",
        cnn,
        {"width": 4, "dropout": 0.1, "head_hidden": 8, "n_classes": 2},
        {
            "sample_rate": 16000,
            "trim_db": None,
            "max_s": None,
            "features": "logmel_patches",
            "n_mels": 64,
            "patch_frames": 96,
            "hop_frames": 48,
        },
        {**_OLD_TORCH_HP, "width": 4},
    )
    lstm_args = {
        "n_mfcc": 20,
        "hidden": 8,
        "num_layers": 1,
        "bidirectional": True,
        "dropout": 0.1,
        "head_hidden": 8,
        "n_classes": 2,
    }
    lstm = MfccLstm(**lstm_args).eval()
    _write_old_artifact(
        tmp_path / "lstm",
        "mfcc_lstm",
        lstm,
        lstm_args,
        {"sample_rate": 16000, "trim_db": None, "max_s": None, "features": "mfcc_frames", "n_mfcc": 20},
        {**_OLD_TORCH_HP, "n_mfcc": 20},
    )
    wave = clips.samples[0]
    with torch.no_grad():
        p = torch.from_numpy(logmel_patches(wave, 16000))
        cnn_expected = torch.softmax(cnn(p, torch.zeros(len(p), dtype=torch.long), 1), -1)[0].numpy()
        f = torch.from_numpy(mfcc_frames(wave, 16000, n_mfcc=20))[None]
        lstm_expected = torch.softmax(lstm(f, torch.tensor([f.shape[1]])), -1)[0].numpy()

    old_cnn = load_predictor(tmp_path / "cnn")
    old_lstm = load_predictor(tmp_path / "lstm")
    assert type(old_cnn.model) is VggishCnn and type(old_lstm.model) is MfccLstm
    assert np.allclose(old_cnn.predict_proba([wave])[0], cnn_expected, atol=1e-5)
    assert np.allclose(old_lstm.predict_proba([wave])[0], lstm_expected, atol=1e-5)
