"""Speaker normalisation of the classical family (`training.ml.speaker_norm`): the statistics
against scikit-learn's StandardScaler, which clips go to which model, and the engine, export and
predictor on real RAVDESS speech."""

from __future__ import annotations

import joblib
import numpy as np
import pytest
import soundfile as sf
from sklearn.preprocessing import StandardScaler

from training.ml import features
from training.ml.engine import Dataset, train
from training.ml.families import get_family
from training.ml.predict import load_predictor
from training.ml.speaker_norm import VoiceNormalisedModel, speaker_standardise, voice_groups

LABELS = ["neutral", "happy", "sad", "angry"]
CODES = {"01": 0, "03": 1, "04": 2, "05": 3}  # RAVDESS emotion code -> index into LABELS


def test_each_voice_is_standardised_as_scikit_learn_would_alone():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 5)) * [1, 10, 100, 0.1, 3] + [0, 5, -50, 2, 7]
    voices = ["speaker:a"] * 15 + ["speaker:b"] * 12 + [""] * 8 + ["cluster:9"] * 5
    groups = voice_groups(voices, len(X), min_clips=10)

    assert list(groups) == ["speaker:a", "speaker:b"]  # "" is unknown, cluster:9 has 5 < 10
    out = speaker_standardise(X, groups)
    for ix in groups.values():
        np.testing.assert_allclose(out[ix], StandardScaler().fit_transform(X[ix]), atol=1e-10)
    np.testing.assert_array_equal(out[27:], X[27:])  # rows of no group untouched
    assert not np.shares_memory(out, X)


def test_a_feature_constant_or_missing_in_one_voice_does_not_blow_up():
    X = np.array([[1.0, 2.0, np.nan], [1.0, 4.0, np.nan], [1.0, 6.0, np.nan]])
    out = speaker_standardise(X, {"v": np.arange(3)})
    np.testing.assert_array_equal(out[:, 0], 0.0)  # constant: centred, not divided by 0
    np.testing.assert_allclose(out[:, 1], [-1.224744871, 0.0, 1.224744871])
    assert np.isnan(out[:, 2]).all()  # missing stays missing (the pipeline imputes it)


def test_bad_voice_lists_are_refused():
    with pytest.raises(ValueError, match="3 voice keys for 4 clips"):
        voice_groups(["a", "a", "a"], 4, min_clips=2)
    with pytest.raises(ValueError, match="at least 2"):
        voice_groups(None, 4, min_clips=1)
    assert voice_groups(None, 4, min_clips=2) == {}


class _Fixed:
    """A fitted stand-in classifier whose probabilities say which model answered (not a mock of
    the unit under test: `VoiceNormalisedModel` routes between two fitted models)."""

    def __init__(self, column: int, n_classes: int = 3):
        self.classes_ = np.arange(n_classes)
        self.column = column
        self.seen: list[np.ndarray] = []

    def predict_proba(self, X):
        self.seen.append(np.array(X))
        p = np.full((len(X), len(self.classes_)), 0.1)
        p[:, self.column] = 0.8
        return p


def test_voices_with_enough_clips_go_to_the_normalised_model_the_rest_to_the_plain_one():
    plain, per_voice = _Fixed(0), _Fixed(2)
    model = VoiceNormalisedModel(plain=plain, per_voice=per_voice, min_clips=3)
    X = np.arange(14, dtype=float).reshape(7, 2)
    voices = ["speaker:a", "", "speaker:a", "speaker:b", "speaker:a", "speaker:b", None]

    proba = model.predict_proba(X, voices, 3)

    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert proba.argmax(axis=1).tolist() == [2, 0, 2, 0, 2, 0, 0]  # only speaker:a has 3 clips
    np.testing.assert_allclose(per_voice.seen[0], StandardScaler().fit_transform(X[[0, 2, 4]]))
    np.testing.assert_array_equal(plain.seen[0], X[[1, 3, 5, 6]])
    assert model.normalised_share(voices, 7) == pytest.approx(3 / 7)
    assert model.predict_proba(X, None, 3).argmax(axis=1).tolist() == [0] * 7  # no voices: plain only
    with pytest.raises(ValueError, match="2 voice keys for 7 clips"):
        model.predict_proba(X, ["a", "b"], 3)


def test_egemaps_features_come_from_opensmile(data_dir):
    import opensmile

    x = sf.read(sorted((data_dir / "ravdess").glob("03-01-05-01-*-01.flac"))[0], dtype="float32")[0]
    row = features.egemaps(x, 16000)
    smile = opensmile.Smile(
        feature_set=opensmile.FeatureSet.eGeMAPSv02, feature_level=opensmile.FeatureLevel.Functionals
    )
    assert row.shape == (features.EGEMAPS_DIM,) and row.dtype == np.float32
    np.testing.assert_allclose(row, smile.process_signal(x, 16000).to_numpy()[0], rtol=1e-5)
    assert np.isnan(features.egemaps(np.zeros(160, np.float32), 16000)).any()  # 10 ms: too short
    fam = get_family("classical")
    for feature_set, width in (("handcrafted", 188), ("egemaps", 88), ("handcrafted+egemaps", 276)):
        hp = fam.validate({"feature_set": feature_set})
        assert fam.features([x, x[:8000]], fam.preprocessing(hp)).shape == (2, width)


def _ravdess(data_dir, actors) -> tuple[list[np.ndarray], np.ndarray, list[str]]:
    files = [
        f
        for f in sorted((data_dir / "ravdess").glob("03-01-*-01-*.flac"))
        if f.stem.split("-")[2] in CODES and int(f.stem[-2:]) in actors
    ]
    samples = [sf.read(f, dtype="float32")[0] for f in files]
    labels = np.array([CODES[f.stem.split("-")[2]] for f in files])
    return samples, labels, [f"speaker:{int(f.stem[-2:]):02d}" for f in files]


@pytest.fixture(scope="module")
def trained(tmp_path_factory, data_dir):
    """A default classical model trained on RAVDESS actors 1-4 (normal intensity, 4 emotions),
    tested on actors 5-6, with every clip's actor as its voice."""
    tr = _ravdess(data_dir, range(1, 5))
    te = _ravdess(data_dir, range(5, 7))
    workdir = tmp_path_factory.mktemp("sn")
    result = train(
        family="classical",
        hparams={},
        train=Dataset(tr[0], tr[1], voices=tr[2]),
        val=Dataset([], []),
        test=Dataset(te[0], te[1], voices=te[2]),
        labels=LABELS,
        workdir=workdir,
        device="cpu",
    )
    return result, te


def test_the_default_classical_model_is_speaker_normalised_end_to_end(trained):
    result, (samples, labels, voices) = trained
    assert result.hparams["speaker_norm"] and result.hparams["feature_set"] == "handcrafted+egemaps"
    assert result.history[0]["speaker_normalised"] == {"train": 1.0, "val": 0.0, "test": 1.0}
    predictor = load_predictor(result.artifact_dir)
    assert predictor.groups_voices
    assert isinstance(predictor.model, VoiceNormalisedModel) and predictor.model.min_clips == 10

    # The exported model, given the test actors' voices, reproduces the engine's test figure.
    y = predictor.predict_proba(samples, voices=voices).argmax(axis=1)
    from training.ml.metrics import evaluate

    assert evaluate(labels, y, LABELS)["ua"] == pytest.approx(result.test_metrics["ua"])
    # Without voices (the live page, a clip of unknown speaker) the plain model answers.
    plain = predictor.predict_proba(samples)
    X = predictor.features(samples)
    expected = np.zeros_like(plain)
    expected[:, predictor.model.plain.classes_] = predictor.model.plain.predict_proba(X)
    np.testing.assert_allclose(plain, expected)
    assert (plain.argmax(axis=1) != y).any()  # the two models are not the same model

    # In batches (evaluation, pre-labelling), the voices' statistics still span all their clips.
    got = np.zeros_like(plain)
    fractions = []
    for a, b, p in predictor.iter_proba(
        lambda a, b: samples[a:b], len(samples), batch_size=7, voices=voices, on_progress=fractions.append
    ):
        got[a:b] = p
    np.testing.assert_allclose(got, predictor.predict_proba(samples, voices=voices))
    assert fractions[-1] == 1.0 and fractions == sorted(fractions)


def test_a_model_saved_before_speaker_normalisation_still_loads_and_predicts(trained, tmp_path):
    result, (samples, _, voices) = trained
    old = tmp_path / "old"
    old.mkdir()
    for name in ("config.json",):
        (old / name).write_bytes((result.artifact_dir / name).read_bytes())
    pipeline = joblib.load(result.artifact_dir / "model.joblib").plain
    joblib.dump(pipeline, old / "model.joblib")  # the bare Pipeline earlier versions exported

    predictor = load_predictor(old)

    assert not predictor.groups_voices
    np.testing.assert_allclose(
        predictor.predict_proba(samples, voices=voices),
        load_predictor(result.artifact_dir).predict_proba(samples),
    )


def test_without_enough_clips_per_voice_and_label_the_plain_model_serves_everyone():
    rng = np.random.default_rng(1)
    fam = get_family("classical")
    hp = fam.validate({})
    X = rng.normal(size=(40, 6)) + np.repeat(np.eye(4, 6), 10, axis=0)
    y = np.repeat(np.arange(4), 10)
    # One voice of 10 clips holding a single "angry" clip: too few for the SVM's calibration.
    voices = ["speaker:a"] * 10 + [""] * 30
    y_a = y.copy()
    y_a[9] = 3
    model = fam.fit_model(X, y_a, voices, hp)
    assert model.per_voice is None and model.plain is not None
    assert fam.fit_model(X, y, None, hp).per_voice is None  # no voices at all
    both = fam.fit_model(X, y, [f"speaker:{i % 2}" for i in range(40)], hp)
    assert both.per_voice is not None
    assert (
        fam.fit_model(X, y, [f"speaker:{i % 2}" for i in range(40)], {**hp, "speaker_norm": False}).per_voice
        is None
    )
