"""A curator names, merges and splits the voices the speaker step found (series speakers)."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from corpus import services
from corpus.models import Recording, SeriesSpeaker, SpeakerCluster


@pytest.fixture
def voices(project, tmp_path, data_dir):
    """Two episodes of one series: voice A has a cluster in each, voice B one in the second."""
    from corpus.tests import media_files as mf

    clusters = []
    for n, episode in enumerate(("E01", "E02")):
        source = services.source_get_or_create(project=project, title="Nsibti", episode=episode)
        samples, rate = mf.ravdess_speech(data_dir, n=1, offset=n)
        wav = mf.write_wav(tmp_path / f"{episode}.wav", samples, rate)
        rec = services.recording_ingest(source=source, path=wav, segment=False).recording
        clusters.append(rec)
    a = SeriesSpeaker.objects.create(project=project, series="Nsibti", centroid=[1.0, 0.0])
    b = SeriesSpeaker.objects.create(project=project, series="Nsibti", centroid=[0.0, 1.0])
    c1 = SpeakerCluster.objects.create(
        recording=clusters[0], index=1, label="E01-spk1", centroid=[1.0, 0.0], clip_count=3, series_speaker=a
    )
    c2 = SpeakerCluster.objects.create(
        recording=clusters[1], index=1, label="E02-spk1", centroid=[0.8, 0.6], clip_count=2, series_speaker=a
    )
    c3 = SpeakerCluster.objects.create(
        recording=clusters[1], index=2, label="E02-spk2", centroid=[0.0, 1.0], clip_count=1, series_speaker=b
    )
    return a, b, (c1, c2, c3)


def _client(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.mark.django_db
def test_a_curator_names_merges_and_splits_voices(voices, curator):
    a, b, (c1, c2, c3) = voices
    api = _client(curator)
    r = api.patch(f"/api/series-speakers/{a.pk}/", {"name": "  Sbouï "}, format="json")
    assert r.status_code == 200 and r.json()["name"] == "Sbouï"
    # a second voice of the series may not take the same name: merge instead
    r = api.patch(f"/api/series-speakers/{b.pk}/", {"name": "Sbouï"}, format="json")
    assert r.status_code == 400 and "merge them instead" in str(r.json())
    assert SeriesSpeaker.objects.get(pk=b.pk).name == ""

    r = api.post(f"/api/speaker-clusters/{c2.pk}/detach/")
    assert r.status_code == 201
    new = SeriesSpeaker.objects.get(pk=r.json()["id"])
    assert list(new.clusters.all()) == [c2]
    a.refresh_from_db()
    assert a.centroid == pytest.approx([1.0, 0.0])  # recomputed from its one cluster left
    # a voice's only cluster cannot be split off: nothing would remain
    r = api.post(f"/api/speaker-clusters/{c1.pk}/detach/")
    assert r.status_code == 400 and "nothing to split" in r.json()["detail"]

    r = api.post(f"/api/series-speakers/{a.pk}/merge/", {"other": new.pk}, format="json")
    assert r.status_code == 200 and r.json()["name"] == "Sbouï"
    assert not SeriesSpeaker.objects.filter(pk=new.pk).exists()
    assert set(a.clusters.all()) == {c1, c2}
    a.refresh_from_db()
    assert a.centroid == pytest.approx([0.948683, 0.316228], abs=1e-5)  # normalised mean of both
    r = api.post(f"/api/series-speakers/{a.pk}/merge/", {"other": a.pk}, format="json")
    assert r.status_code == 400

    listing = api.get("/api/series-speakers/").json()["results"]
    assert [v["name"] for v in listing] == ["Sbouï", ""]
    assert [c["label"] for c in listing[0]["clusters"]] == ["E01-spk1", "E02-spk1"]
    page = curator_page(curator)
    assert "Sbouï" in page and "E02-spk2" in page


def curator_page(user) -> str:
    from django.test import Client

    client = Client()
    client.force_login(user)
    response = client.get("/speakers/")
    assert response.status_code == 200
    return response.content.decode()


@pytest.mark.django_db
def test_voices_of_another_series_or_project_cannot_be_merged(voices, curator, outsider, project):
    a, b, _ = voices
    elsewhere = SeriesSpeaker.objects.create(project=project, series="Choufli Hal", centroid=[1.0, 0.0])
    r = _client(curator).post(f"/api/series-speakers/{a.pk}/merge/", {"other": elsewhere.pk}, format="json")
    assert r.status_code == 400 and "same series" in r.json()["detail"]
    r = _client(outsider).post(f"/api/series-speakers/{a.pk}/merge/", {"other": b.pk}, format="json")
    assert r.status_code == 404
    assert _client(outsider).get("/api/series-speakers/").json()["count"] == 0
    assert SeriesSpeaker.objects.filter(pk__in=[a.pk, b.pk]).count() == 2
    assert Recording.objects.count() == 2
