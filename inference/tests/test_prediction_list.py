"""GET /api/inference/predictions/: the pre-labels of the user's projects' clips, paged on the
server, filtered by model version, label, confidence, series, episode, recording, cluster."""

from __future__ import annotations

import pytest

from annotation.tests.test_rejected_list import rejected_clips
from conftest import _user, api
from core.models import Project
from corpus.models import Clip, SpeakerCluster
from corpus.tests.test_recording_list import bulk_recordings
from inference.models import Prediction
from training.models import ModelVersion, TrainingRun
from training.tests.test_run_list import release_in


def model_version(project, name: str) -> ModelVersion:
    release = release_in(project, f"r-{name}")
    run = TrainingRun.objects.create(project=project, release=release, family="classical", status="succeeded")
    return ModelVersion.objects.create(
        project=project, run=run, release=release, family="classical", name=name, path="x", labels=[]
    )


def predict(mv, clips, label: str, p: float) -> None:
    Prediction.objects.bulk_create(
        [
            Prediction(
                clip=c,
                model_version=mv,
                probabilities={label: p},
                top_label=label,
                top_probability=p,
                entropy=0.5,
            )
            for c in clips
        ]
    )


@pytest.fixture
def other_ml(django_user_model, db):
    return _user(django_user_model, "other_ml", "ml_staff", project=Project.objects.create(slug="other"))


@pytest.fixture
def predictions(project, other_ml):
    """Project A, model v1: 55 clips of Choufli Hal S01E01 predicted neutral (0.6), 2 of them in
    cluster spk1; 4 clips of Nouba S02E07 predicted angry (0.9). The other project: 12 predictions."""
    v1 = model_version(project, "v1")
    choufli = bulk_recordings(project, 1)[0]
    nouba = bulk_recordings(project, 1, title="Nouba", episode="S02E07")[0]
    neutral = rejected_clips(choufli, 55, status=Clip.Status.AWAITING_VALIDATION)
    predict(v1, neutral, "neutral", 0.6)
    predict(v1, rejected_clips(nouba, 4, status=Clip.Status.AWAITING_VALIDATION), "angry", 0.9)
    cluster = SpeakerCluster.objects.create(recording=choufli, index=1, label="S01E01-spk1")
    Clip.objects.filter(pk__in=[c.pk for c in neutral[:2]]).update(speaker_cluster=cluster)
    other = Project.objects.get(slug="other")
    theirs = bulk_recordings(other, 1, title="Nouba", episode="S02E07")[0]
    predict(model_version(other, "secret"), rejected_clips(theirs, 12), "angry", 0.95)
    return v1, nouba, cluster


def test_predictions_are_paged_with_a_count(curator, predictions):
    first = api(curator).get("/api/inference/predictions/").json()
    assert first["count"] == 59 and len(first["results"]) == 50 and "page=2" in first["next"]
    assert len(api(curator).get("/api/inference/predictions/?page=2").json()["results"]) == 9


def test_prediction_filters_and_search(curator, predictions):
    v1, nouba, cluster = predictions

    def count(query: str) -> int:
        response = api(curator).get(f"/api/inference/predictions/?{query}")
        assert response.status_code == 200, response.content
        return response.json()["count"]

    assert count("label=angry") == 4
    assert count(f"model_version={v1.pk}") == 59
    assert count("min_probability=0.8") == 4
    assert count("source_title=nouba") == 4
    assert count("episode=S01E01") == 55
    assert count(f"recording={nouba.pk}") == 4
    assert count(f"speaker_cluster={cluster.pk}") == 2
    assert count("search=nouba s02e07") == 4
    row = api(curator).get("/api/inference/predictions/?label=angry").json()["results"][0]
    assert (row["top_label"], row["model_version_name"], row["episode"]) == ("angry", "v1", "S02E07")


@pytest.mark.parametrize(
    "query",
    [
        "page=0",
        "page_size=500",
        "min_probability=2",
        "min_probability=NaN",
        f"model_version={2**63}",
        "label=" + "x" * 31,
    ],
)
def test_prediction_bad_parameters_are_400(curator, predictions, query):
    response = api(curator).get(f"/api/inference/predictions/?{query}")
    assert response.status_code == 400, response.content
    assert query.split("=")[0] in response.json()


def test_another_projects_predictions_are_never_counted(curator, other_ml, annotator, predictions):
    assert api(other_ml).get("/api/inference/predictions/").json()["count"] == 12
    assert api(curator).get("/api/inference/predictions/?label=angry").json()["count"] == 4
    assert (
        api(other_ml).get(f"/api/inference/predictions/?model_version={predictions[0].pk}").json()["count"]
        == 0
    )
    assert api(annotator).get("/api/inference/predictions/").status_code == 403
