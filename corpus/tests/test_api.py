"""The REST API: what each role and each bad upload gets.

Tests that upload run in committed transactions, so that segmentation is queued on commit and
(Celery being eager in tests) has finished when the API answers.
"""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from corpus import services
from corpus.models import Recording, SegmentationRun
from corpus.tests import media_files as mf

# These tests need clips, not voices (corpus/tests/test_speakers*.py test the speaker step).
pytestmark = pytest.mark.usefixtures("no_speaker_step")


@pytest.fixture
def speech_bytes(tmp_path, data_dir) -> bytes:
    samples, rate = mf.ravdess_speech(data_dir, n=3)
    return mf.write_wav(tmp_path / "speech.wav", samples, rate).read_bytes()


def client_for(user) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client


def upload(client, name: str, content: bytes, **fields):
    data = {"file": SimpleUploadedFile(name, content), "source_title": "Nouba", "episode": "E01", **fields}
    return client.post("/api/recordings/", data, format="multipart")


@pytest.mark.django_db(transaction=True)
def test_curator_uploads_a_file_and_gets_its_id_status_and_clips(curator, speech_bytes):
    client = client_for(curator)

    response = upload(client, "nouba.wav", speech_bytes, channel="Nessma", air_date="2019-05-06")

    assert response.status_code == 201, response.json()
    body = response.json()
    rec = Recording.objects.get(pk=body["id"])
    assert body["duplicate"] is False and body["status"] == "segmented" == rec.status
    assert body["url"] == f"/recordings/{rec.pk}/"
    assert body["segmentation_run"]["status"] == "succeeded"
    assert (rec.source.title, rec.source.episode, rec.source.channel, str(rec.source.air_date)) == (
        "Nouba",
        "E01",
        "Nessma",
        "2019-05-06",
    )
    clips = client.get(f"/api/recordings/{rec.pk}/clips/").json()
    assert len(clips) == rec.clips.count() >= 3  # three utterances joined by 1 s pauses
    summary = client.get(f"/api/recordings/{rec.pk}/summary/").json()
    assert summary["count"] == len(clips) and sum(summary["histogram"]["counts"]) == len(clips)
    peaks = client.get(f"/api/recordings/{rec.pk}/peaks/?n=500").json()
    assert len(peaks["peaks"]) == 500 and 0 < max(peaks["peaks"]) <= 1
    assert peaks["duration"] == pytest.approx(rec.duration_s, abs=0.01)


@pytest.mark.django_db(transaction=True)
def test_the_same_upload_twice_answers_200_with_the_first_recording(curator, speech_bytes):
    client = client_for(curator)
    first = upload(client, "a.wav", speech_bytes).json()

    again = upload(client, "b.wav", speech_bytes)

    assert again.status_code == 200
    assert again.json()["duplicate"] is True and again.json()["id"] == first["id"]
    assert "Already ingested as recording" in again.json()["detail"]
    assert Recording.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_bad_uploads_get_a_clear_4xx_and_harm_nothing(curator, speech_bytes, settings):
    client = client_for(curator)
    good = upload(client, "good.wav", speech_bytes).json()
    n_clips = Recording.objects.get(pk=good["id"]).clips.count()

    r = upload(client, "empty.wav", b"")
    assert r.status_code == 400 and r.json()["code"] == "empty" and "empty" in r.json()["detail"]
    # No audio stream, whatever the name says: refused (415), nothing stored.
    before = Recording.objects.count()
    r = upload(client, "notes.pdf", b"%PDF-1.4")
    assert r.status_code == 415 and r.json()["code"] == "no_audio"
    r = upload(client, "song.mp3", b"this is text, not audio\n" * 100)
    assert r.status_code == 415 and "Not a readable audio or video file" in r.json()["detail"]
    assert Recording.objects.count() == before
    r = upload(client, "cut.wav", speech_bytes[: len(speech_bytes) // 2] + b"")
    # Half a WAV under the same name as no other file: the header promises twice the audio.
    assert r.status_code == 422 and "truncated" in r.json()["detail"]
    r = client.post("/api/recordings/", {"source_title": "Nouba"}, format="multipart")
    assert r.status_code == 400 and "file" in r.json()
    r = client.post(
        "/api/recordings/", {"file": SimpleUploadedFile("x.wav", speech_bytes + b"1")}, format="multipart"
    )
    assert r.status_code == 400 and "source" in r.json()["detail"]
    settings.TUNISER = {**settings.TUNISER, "MAX_UPLOAD_BYTES": 1000}
    r = upload(client, "big.wav", speech_bytes + b"2")
    assert r.status_code == 413 and "over the limit" in r.json()["detail"]

    # The good recording is untouched by all of the above.
    assert Recording.objects.get(pk=good["id"]).clips.count() == n_clips
    assert Recording.objects.filter(status="segmented").count() == 1


@pytest.mark.django_db(transaction=True)
def test_roles_annotators_outsiders_and_anonymous_see_nothing_they_should_not(
    curator, annotator, outsider, speech_bytes
):
    rec_id = upload(client_for(curator), "a.wav", speech_bytes).json()["id"]

    anonymous = client_for(None)
    assert anonymous.get("/api/recordings/").status_code in (401, 403)
    assert anonymous.get(f"/api/recordings/{rec_id}/").status_code in (401, 403)
    assert upload(anonymous, "b.wav", speech_bytes + b"x").status_code in (401, 403)

    # An annotator may not ingest or re-segment.
    r = upload(client_for(annotator), "b.wav", speech_bytes + b"x")
    assert r.status_code == 403 and "curators" in r.json()["detail"]
    r = client_for(annotator).post(f"/api/recordings/{rec_id}/segment/", {}, format="json")
    assert r.status_code == 403

    # A curator of another project sees none of ours, not even by id.
    other = client_for(outsider)
    assert other.get("/api/recordings/").json()["count"] == 0
    for path in ("", "clips/", "summary/", "peaks/"):
        assert other.get(f"/api/recordings/{rec_id}/{path}").status_code == 404
    assert other.post(f"/api/recordings/{rec_id}/segment/", {}, format="json").status_code == 404
    run_id = SegmentationRun.objects.get().pk
    assert other.get(f"/api/segmentation-runs/{run_id}/").status_code == 404
    assert Recording.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_resegment_through_the_api_with_other_parameters(curator, speech_bytes):
    client = client_for(curator)
    rec_id = upload(client, "a.wav", speech_bytes).json()["id"]

    bad = client.post(f"/api/recordings/{rec_id}/segment/", {"aggressiveness": 9}, format="json")
    assert bad.status_code == 400 and "aggressiveness" in bad.json()["detail"]

    r = client.post(
        f"/api/recordings/{rec_id}/segment/", {"detector": "silero", "max_clip_s": 5}, format="json"
    )
    assert r.status_code == 202, r.json()
    run = client.get(f"/api/segmentation-runs/{r.json()['id']}/").json()
    assert run["status"] == "succeeded" and run["detector"] == "silero" and run["max_clip_s"] == 5


@pytest.mark.django_db
def test_openapi_schema_documents_every_corpus_endpoint(curator):
    client = client_for(curator)
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    paths = schema["paths"]
    for path in (
        "/api/recordings/",
        "/api/recordings/{id}/",
        "/api/recordings/{id}/clips/",
        "/api/recordings/{id}/segment/",
        "/api/recordings/{id}/summary/",
        "/api/recordings/{id}/peaks/",
        "/api/segmentation-runs/{id}/",
    ):
        assert path in paths, path
    post = paths["/api/recordings/"]["post"]
    assert {"201", "200", "400", "413", "415", "422"} <= set(post["responses"])
    assert "multipart/form-data" in post["requestBody"]["content"]
    assert client.get("/api/docs/").status_code == 200


@pytest.mark.django_db
def test_sources_are_listed_per_project(curator, outsider, project):
    services.source_get_or_create(project=project, title="Nsibti Laaziza", episode="S01E01")
    assert [s["title"] for s in client_for(curator).get("/api/sources/").json()["results"]] == [
        "Nsibti Laaziza"
    ]
    assert client_for(outsider).get("/api/sources/").json()["results"] == []


@pytest.mark.django_db(transaction=True)
def test_media_answers_range_requests_so_long_recordings_can_be_seeked(
    curator, annotator, speech_bytes, client
):
    rec = Recording.objects.get(pk=upload(client_for(curator), "a.wav", speech_bytes).json()["id"])
    url = rec.normalised.url
    client.force_login(curator)
    whole = b"".join(client.get(url).streaming_content)
    assert len(whole) > 100_000

    part = client.get(url, HTTP_RANGE="bytes=1000-1999")
    assert part.status_code == 206 and part.content == whole[1000:2000]
    assert part["Content-Range"] == f"bytes 1000-1999/{len(whole)}" and part["Accept-Ranges"] == "bytes"
    tail = client.get(url, HTTP_RANGE="bytes=-500")
    assert tail.status_code == 206 and tail.content == whole[-500:]
    assert client.get(url, HTTP_RANGE=f"bytes={len(whole) + 10}-").status_code == 416
    assert client.get("/media/../conftest.py").status_code == 404

    # Annotators and validators browse no recordings: pages, API and raw media are closed to them.
    client.force_login(annotator)
    assert client.get(url).status_code == 404
    assert client.get("/recordings/").status_code == 403
    assert client.get(f"/recordings/{rec.pk}/").status_code == 403
    api = client_for(annotator)
    assert api.get("/api/recordings/").status_code == 403
    for path in ("", "clips/", "summary/", "peaks/"):
        assert api.get(f"/api/recordings/{rec.pk}/{path}").status_code == 404
