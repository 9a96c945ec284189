"""training.ml on real speech: RAVDESS angry (emotion 05) vs neutral (01), speakers held out.

Splits by actor: train 1-16, validation 17-20, test 21-24 (192 / 48 / 48 clips, two angry for
one neutral). Transformer backbones are tiny random wav2vec2 models saved locally (nothing is
downloaded). Measured when these tests were written (one thread, seed 0), on the test split:
classical (SVM on 188 hand-crafted features) UA 0.844 / WA 0.896 / macro-F1 0.871; logmel_cnn
(width 8, 5 epochs) UA 0.938 / WA 0.917 / macro-F1 0.911. The LSTM and the random-backbone
transformer train on subsets for a couple of epochs: they only have to run here (the LSTM with
its default size, 20 epochs on the full split, reached UA 0.75 / WA 0.83, outside this file).

No database: plain functions. Torch and BLAS run on one thread: on two cores shared with other
test runs, two threads each are several times slower. The file runs in about 30 s.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from training.ml import audio, families, features
from training.ml.engine import Dataset, GpuOutOfMemory, Progress, train
from training.ml.metrics import evaluate
from training.ml.predict import load_predictor

LABELS = ["angry", "neutral"]
EMOTION = {"05": 0, "01": 1}
TRAIN_ACTORS, VAL_ACTORS, TEST_ACTORS = range(1, 17), range(17, 21), range(21, 25)
UA_FLOOR = 0.75  # chance is 0.5

# A small, fast LSTM for the tests that exercise the loop rather than the model.
TINY_LSTM = {"hidden": 16, "num_layers": 1, "head_hidden": 16, "batch_size": 16, "lr": 3e-3, "n_mfcc": 20}


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    from threadpoolctl import threadpool_limits

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    with threadpool_limits(1):
        yield
    torch.set_num_threads(before)


def _load(data_dir: Path, actors) -> Dataset:
    samples, labels, ids = [], [], []
    for path in sorted((data_dir / "ravdess").glob("*.flac")):
        code = path.stem.split("-")  # MM-VC-EE-II-SS-RR-AA
        if code[2] in EMOTION and int(code[6]) in actors:
            samples.append(audio.load_audio(path))
            labels.append(EMOTION[code[2]])
            ids.append(int("".join(code)))
    return Dataset(samples, np.array(labels), ids)


def _subset(ds: Dataset, per_class: int) -> Dataset:
    keep = [i for c in range(len(LABELS)) for i in np.flatnonzero(ds.labels == c)[:per_class]]
    return Dataset([ds.samples[i] for i in keep], ds.labels[keep], [ds.ids[i] for i in keep])


@pytest.fixture(scope="module")
def splits(data_dir) -> dict[str, Dataset]:
    out = {
        name: _load(data_dir, actors)
        for name, actors in (("train", TRAIN_ACTORS), ("val", VAL_ACTORS), ("test", TEST_ACTORS))
    }
    assert [len(out[k]) for k in ("train", "val", "test")] == [192, 48, 48]
    return out


@pytest.fixture(scope="module")
def small(splits) -> dict[str, Dataset]:
    return {
        "train": _subset(splits["train"], 12),
        "val": _subset(splits["val"], 4),
        "test": _subset(splits["test"], 4),
    }


@pytest.fixture(scope="module")
def backbone_dir(tmp_path_factory) -> Path:
    """A tiny randomly initialised wav2vec2 saved like a downloaded one (80x downsampling: 200
    frames per second keeps attention cheap on the CPU)."""
    from transformers import Wav2Vec2Config, Wav2Vec2Model

    torch.manual_seed(0)
    config = Wav2Vec2Config(
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        conv_dim=(32, 32, 32),
        conv_kernel=(10, 3, 3),
        conv_stride=(5, 4, 4),
        num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=4,
    )
    path = tmp_path_factory.mktemp("backbone")
    Wav2Vec2Model(config).save_pretrained(path)
    return path


def _train(family, data, workdir, hparams=None, **kw):
    return train(
        family=family,
        hparams=hparams or {},
        train=data["train"],
        val=data["val"],
        test=data["test"],
        labels=LABELS,
        workdir=workdir,
        device="cpu",
        **kw,
    )


@pytest.fixture(scope="module")
def trained(splits, small, backbone_dir, tmp_path_factory) -> dict:
    """One trained model per family (and both transformer poolings), shared by the tests below."""
    work = tmp_path_factory.mktemp("runs")
    tf = {"epochs": 2, "batch_size": 8, "max_clip_s": 1.5, "head_hidden": 16, "lr": 1e-3}
    return {
        "classical": _train("classical", splits, work / "classical"),
        "logmel_cnn": _train(
            "logmel_cnn",
            splits,
            work / "cnn",
            {"epochs": 5, "width": 8, "head_hidden": 32, "batch_size": 16, "patience": None},
        ),
        "mfcc_lstm": _train("mfcc_lstm", small, work / "lstm", {**TINY_LSTM, "epochs": 2}),
        "transformer": _train(
            "transformer", small, work / "tf_mean", {**tf, "pooling": "mean"}, backbone_dir=backbone_dir
        ),
        "transformer_weighted": _train(
            "transformer",
            small,
            work / "tf_weighted",
            {**tf, "pooling": "weighted"},
            backbone_dir=backbone_dir,
        ),
    }


# --- audio and features -------------------------------------------------------------------------


def test_preprocess_trims_silence_and_crops_the_centre(data_dir):
    x = audio.load_audio(data_dir / "ravdess" / "03-01-05-01-01-01-01.flac")
    assert x.dtype == np.float32 and x.ndim == 1
    trimmed = audio.preprocess(x)
    # RAVDESS keeps about a second of leading and trailing silence.
    assert 0.3 * len(x) < len(trimmed) < len(x) - audio.SAMPLE_RATE // 2
    assert len(audio.preprocess(x, trim_db=None)) == len(x)
    cropped = audio.preprocess(x, trim_db=None, max_s=1.0)
    start = (len(x) - audio.SAMPLE_RATE) // 2
    np.testing.assert_array_equal(cropped, x[start : start + audio.SAMPLE_RATE])
    silent = np.zeros(audio.SAMPLE_RATE, dtype=np.float32)
    assert len(audio.preprocess(silent)) == len(silent)  # nothing left to keep: untouched


def test_load_audio_resamples_to_16k(tmp_path, data_dir):
    import soundfile as sf

    x = audio.load_audio(data_dir / "ravdess" / "03-01-01-01-01-01-01.flac")
    stereo_8k = np.stack([x[::2], x[::2]], axis=1)
    sf.write(tmp_path / "a.wav", stereo_8k, 8000)
    y = audio.load_audio(tmp_path / "a.wav")
    assert y.dtype == np.float32 and y.ndim == 1
    assert abs(len(y) - 2 * len(stereo_8k)) <= 2


def test_feature_shapes(data_dir):
    x = audio.preprocess(audio.load_audio(data_dir / "ravdess" / "03-01-05-02-01-01-02.flac"))
    means = features.handcrafted(x, audio.SAMPLE_RATE, with_std=False)
    both = features.handcrafted(x, audio.SAMPLE_RATE)
    assert means.shape == (94,) and both.shape == (188,)
    np.testing.assert_allclose(both[:94], means, rtol=1e-6)
    assert np.isfinite(both).all() and (both[94:] >= 0).all()
    mfcc = features.mfcc_frames(x, audio.SAMPLE_RATE)
    assert mfcc.shape[1] == 40 and abs(mfcc.shape[0] - len(x) / 160) < 5
    patches = features.logmel_patches(x, audio.SAMPLE_RATE)
    n_frames = features.logmel(x, audio.SAMPLE_RATE).shape[0]
    assert patches.shape[1:] == (1, 96, 64) and patches.dtype == np.float32
    assert patches.shape[0] == 1 + max(0, int(np.ceil((n_frames - 96 - 24) / 48)))
    np.testing.assert_array_equal(patches[1, 0, :48], patches[0, 0, 48:])  # 50 % overlap
    short = features.logmel_patches(x[:3200], audio.SAMPLE_RATE)  # 0.2 s
    assert short.shape == (1, 1, 96, 64)
    assert (short[0, 0, 30:] == np.float32(np.log(features.VGGISH_LOG_OFFSET))).all()  # padded with silence


def test_evaluate_matches_hand_computed_scores():
    m = evaluate([0, 0, 0, 1], [0, 0, 1, 1], LABELS)
    assert m["wa"] == pytest.approx(0.75)
    assert m["ua"] == pytest.approx((2 / 3 + 1) / 2)
    assert m["confusion_matrix"] == [[2, 1], [0, 1]]
    assert m["per_class"]["neutral"] == {
        "precision": 0.5,
        "recall": 1.0,
        "f1": pytest.approx(2 / 3),
        "support": 1,
    }
    json.dumps(m)


# --- validation ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "family, hparams, device, precision, message",
    [
        ("classical", {}, "cuda", "fp32", "trains with scikit-learn on the CPU"),
        ("classical", {}, "auto", "bf16", "no mixed precision"),
        ("classical", {"classifier": "forest"}, "cpu", "fp32", "classifier must be one of 'svm', 'knn'"),
        ("mfcc_lstm", {"batch_size": 0}, "cpu", "fp32", "batch_size must be >= 1"),
        ("mfcc_lstm", {}, "cpu", "bf16", "needs a CUDA device"),
        ("logmel_cnn", {"lr": 0}, "cpu", "fp32", "lr must be > 0"),
        ("logmel_cnn", {"aug_noise": 1.5}, "cpu", "fp32", "aug_noise must be <= 1"),
        ("transformer", {"pooling": "max"}, "cuda", "bf16", "pooling must be one of 'mean', 'weighted'"),
        (
            "transformer",
            {"freeze_backbone": True, "freeze_feature_encoder": False},
            "cuda",
            "fp32",
            "contradicts",
        ),
        ("transformer", {"batch_sise": 8}, "cuda", "fp32", "unknown hyper-parameter.*batch_sise"),
        ("transformer", {"epochs": 2.5}, "cuda", "fp32", "epochs must be an integer"),
        ("transformer", {"freeze_backbone": "yes"}, "cuda", "fp32", "freeze_backbone must be true or false"),
        ("transformer", {}, "gpu", "fp32", "device must be"),
        ("transformer", {}, "cuda", "fp8", "precision must be one of"),
        ("classical", [["C", 1]], "cpu", "fp32", "a JSON object of name: value"),
    ],
)
def test_validate_refuses_invalid_combinations(family, hparams, device, precision, message):
    with pytest.raises(ValueError, match=message):
        families.get_family(family).validate(hparams, device=device, precision=precision)


def test_validate_fills_defaults_and_accepts_valid_combinations():
    with pytest.raises(ValueError, match="unknown model family 'rnn'; choose one of transformer, mfcc_lstm"):
        families.get_family("rnn")
    hp = families.validate(
        "transformer", {"freeze_backbone": True, "pooling": "weighted"}, device="cuda", precision="bf16"
    )
    assert hp["freeze_backbone"] and hp["pooling"] == "weighted" and hp["freeze_feature_encoder"]
    assert set(hp) == set(families.default_hparams("transformer"))
    for name in families.FAMILY_NAMES:
        fam = families.get_family(name)
        assert fam.validate(fam.default_hparams(), device="cpu") == fam.default_hparams()


def test_train_refuses_mixed_precision_without_a_gpu(splits, tmp_path):
    assert not torch.cuda.is_available()
    with pytest.raises(ValueError, match="needs a CUDA device"):
        train(
            family="mfcc_lstm",
            hparams={},
            train=splits["train"],
            val=splits["val"],
            test=splits["test"],
            labels=LABELS,
            workdir=tmp_path,
            device="auto",
            precision="bf16",
        )
    with pytest.raises(ValueError, match="needs as many labels"):
        Dataset([np.zeros(10, np.float32)], np.array([0, 1]), [1])


def test_gpu_out_of_memory_names_the_batch_size():
    err = GpuOutOfMemory(batch_size=64)
    assert err.batch_size == 64
    assert str(err) == "GPU memory exhausted at batch size 64; lower the batch size"


# --- training on real speech --------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["classical", "logmel_cnn", "mfcc_lstm", "transformer", "transformer_weighted"]
)
def test_every_family_trains_and_reports_metrics(trained, name):
    result = trained[name]
    assert not result.cancelled and result.artifact_dir.is_dir() and result.n_params > 0
    m = result.test_metrics
    assert {"ua", "wa", "macro_f1", "confusion_matrix", "per_class"} <= set(m)
    assert np.array(m["confusion_matrix"]).sum() == m["n"]
    assert all(0.0 <= m[k] <= 1.0 for k in ("ua", "wa", "macro_f1"))
    assert result.history and {"train_loss", "val_loss", "val_ua", "val_wa", "val_macro_f1"} <= set(
        result.history[-1]
    )
    assert 1 <= result.best_epoch <= len(result.history)
    json.dumps(result.to_dict())


@pytest.mark.parametrize("name", ["classical", "logmel_cnn"])
def test_angry_vs_neutral_is_learned_on_unseen_speakers(trained, name):
    m = trained[name].test_metrics
    print(
        f"{name}: test UA {m['ua']:.3f} WA {m['wa']:.3f} macro-F1 {m['macro_f1']:.3f} {m['confusion_matrix']}"
    )
    assert m["ua"] >= UA_FLOOR


@pytest.mark.parametrize(
    "name", ["classical", "logmel_cnn", "mfcc_lstm", "transformer", "transformer_weighted"]
)
def test_predictor_reproduces_the_test_evaluation(trained, splits, small, name):
    result = trained[name]
    test = splits["test"] if name in ("classical", "logmel_cnn") else small["test"]
    predictor = load_predictor(result.artifact_dir)
    assert predictor.labels == LABELS
    proba = predictor.predict_proba(test.samples)
    assert proba.shape == (len(test), 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-5)
    assert evaluate(test.labels, proba.argmax(axis=1), LABELS) == result.test_metrics
    # A clip at another rate is resampled first; batching barely changes the answer (wav2vec2's
    # group-normalised feature encoder sees the zero padding of a batch; the other families not).
    one = predictor.predict_proba([test.samples[0][::2]], sr=8000)
    assert one.shape == (1, 2)
    np.testing.assert_allclose(predictor.predict_proba(test.samples[:3], batch_size=1), proba[:3], atol=1e-3)


@pytest.mark.parametrize("name", ["transformer", "transformer_weighted"])
def test_exported_transformer_loads_in_a_transformers_pipeline(trained, small, name):
    from transformers import pipeline

    artifact = trained[name].artifact_dir
    config = json.loads((artifact / "config.json").read_text())
    assert (
        config["auto_map"]["AutoModelForAudioClassification"]
        == "modeling_tuniser.TuniserForAudioClassification"
    )
    assert config["id2label"] == {"0": "angry", "1": "neutral"}
    assert config["pooling"] == ("weighted" if name.endswith("weighted") else "mean")
    assert {"model.safetensors", "modeling_tuniser.py", "preprocessor_config.json"} <= {
        p.name for p in artifact.iterdir()
    }

    classify = pipeline("audio-classification", model=str(artifact), trust_remote_code=True)
    clips = small["test"].samples[:2]
    outputs = [classify(clip) for clip in clips]
    expected = load_predictor(artifact).predict_proba(clips)
    for out, probs in zip(outputs, expected, strict=True):
        assert {o["label"] for o in out} == set(LABELS)
        scores = {o["label"]: o["score"] for o in out}
        # The pipeline's feature extractor trims and crops as training did: same probabilities.
        np.testing.assert_allclose([scores[label] for label in LABELS], probs, atol=1e-5)


def test_frozen_backbone_trains_only_the_head(small, backbone_dir, tmp_path):
    from safetensors.torch import load_file

    result = _train(
        "transformer",
        small,
        tmp_path,
        {
            "epochs": 1,
            "batch_size": 8,
            "max_clip_s": 1.0,
            "freeze_backbone": True,
            "pooling": "weighted",
            "head_lr": 1e-2,
        },
        backbone_dir=backbone_dir,
    )
    before = load_file(str(backbone_dir / "model.safetensors"))
    after = load_file(str(result.artifact_dir / "model.safetensors"))
    for key, value in before.items():
        if key != "masked_spec_embed":
            torch.testing.assert_close(after[f"backbone.{key}"], value, rtol=0, atol=0)
    assert not torch.equal(after["layer_weights"], torch.zeros(3))  # the layer weights did learn


def test_same_seed_same_run(small, tmp_path):
    a = _train("mfcc_lstm", small, tmp_path / "a", {**TINY_LSTM, "epochs": 1})
    b = _train("mfcc_lstm", small, tmp_path / "b", {**TINY_LSTM, "epochs": 1})
    assert a.history[0]["train_loss"] == b.history[0]["train_loss"]
    assert a.test_metrics == b.test_metrics


# --- checkpoints: resume after a dead worker, cancel --------------------------------------------


class WorkerDied(Exception):
    pass


def test_a_killed_run_resumes_from_its_last_epoch(small, tmp_path):
    hp = {**TINY_LSTM, "epochs": 3, "patience": None}

    def die_after_first_epoch(p: Progress) -> bool:
        if p.epoch_done and p.epoch == 1:
            raise WorkerDied
        return False

    with pytest.raises(WorkerDied):
        _train("mfcc_lstm", small, tmp_path / "run", hp, on_progress=die_after_first_epoch)
    assert (tmp_path / "run" / "checkpoint.pt").exists() and (tmp_path / "run" / "best.pt").exists()

    seen: list[Progress] = []
    resumed = _train("mfcc_lstm", small, tmp_path / "run", hp, on_progress=lambda p: seen.append(p) or False)
    assert resumed.resumed_from_epoch == 1 and not resumed.cancelled
    assert [h["epoch"] for h in resumed.history] == [1, 2, 3]
    assert min(p.epoch for p in seen) == 2  # epoch 1 was not trained again

    # The interruption changed nothing: same losses as a run that was never stopped.
    straight = _train("mfcc_lstm", small, tmp_path / "straight", hp)
    assert straight.resumed_from_epoch is None
    assert [h["train_loss"] for h in resumed.history] == [h["train_loss"] for h in straight.history]
    assert resumed.test_metrics == straight.test_metrics

    with pytest.raises(ValueError, match="belongs to another run"):
        _train("mfcc_lstm", small, tmp_path / "run", {**hp, "lr": 1e-2})


def test_cancel_stops_at_the_step_and_keeps_the_best_checkpoint(small, tmp_path):
    hp = {**TINY_LSTM, "epochs": 3, "progress_every": 1}
    steps_per_epoch = int(np.ceil(len(small["train"]) / hp["batch_size"]))
    seen: list[Progress] = []

    def cancel_in_second_epoch(p: Progress) -> bool:
        seen.append(p)
        return p.epoch == 2 and not p.epoch_done

    result = _train("mfcc_lstm", small, tmp_path, hp, on_progress=cancel_in_second_epoch)
    assert result.cancelled and result.artifact_dir is None and result.test_metrics is None
    assert seen[-1].step == steps_per_epoch + 1 and seen[-1].total_steps == 3 * steps_per_epoch
    assert len(result.history) == 1 and result.best_epoch == 1
    assert torch.load(tmp_path / "best.pt", weights_only=True)["epoch"] == 1
    assert not (tmp_path / "model").exists()


def test_the_svm_calibrates_on_two_clips_of_a_label_and_names_a_label_of_one(data_dir):
    """A cross-validation fold of a small corpus may leave a label 2 training clips: the SVM's
    Platt calibration then uses 2 folds, not 3; a label of 1 clip is refused with a message."""
    fam = families.get_family("classical")
    hp = families.validate("classical", {"classifier": "svm"}, device="cpu", precision="fp32")
    files = [
        data_dir / "ravdess" / f"03-01-{e}-01-01-01-{a:02d}.flac" for e in ("05", "01") for a in (1, 2, 3, 4)
    ]
    waves = [audio.preprocess(audio.load_audio(f)) for f in files]
    x = np.stack([features.handcrafted(w, audio.SAMPLE_RATE) for w in waves])
    y = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    keep_two = [0, 1, 2, 3, 4, 5]
    fitted = fam.fit(fam.build_pipeline(hp), x[keep_two], y[keep_two], hp)
    assert fitted.predict_proba(x).shape == (8, 2)
    keep_one = [0, 1, 2, 3, 4]
    with pytest.raises(ValueError, match="at least 2 training clips of each label, and one label has 1"):
        fam.fit(fam.build_pipeline(hp), x[keep_one], y[keep_one], hp)
