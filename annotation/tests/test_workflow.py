"""Validation and three-annotator labelling through the services and the API."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.utils import timezone
from rest_framework.test import APIClient

from annotation import services
from annotation.guideline import ensure_guideline
from annotation.models import Annotation, Assignment, ClipDecision, PoolEntry, ValidationVote
from annotation.tests.factories import ingest_segmented
from conftest import shared_world, world_for_test
from core.errors import ApplicationError
from corpus import services as corpus_services
from corpus.models import Clip
from corpus.tests import media_files as mf

V, L = services.VALIDATION, services.LABELLING


@pytest.fixture(autouse=True)
def _guideline(db):
    ensure_guideline()


@pytest.fixture
def make_user(django_user_model, project):
    def make(name: str, *roles: str):
        user = django_user_model.objects.create_user(username=name, password="pw-" + name)
        user.groups.set([Group.objects.get_or_create(name=r)[0] for r in roles])
        project.members.add(user)
        return user

    return make


def _build(*, project, django_user_model, tmp_path, data_dir) -> dict:
    """Real clips: four RAVDESS utterances ingested and segmented (eagerly) by the corpus."""
    ensure_guideline()
    samples, rate = mf.ravdess_speech(data_dir, n=4)
    source = corpus_services.source_get_or_create(project=project, title="Nsibti Laaziza")
    rec = ingest_segmented(source, mf.write_wav(tmp_path / "a.wav", samples, rate))
    return {"clips": list(rec.clips.order_by("start_s"))}


# One real recording for the module (seconds of ingest and segmentation): each test runs in a
# savepoint of the transaction that holds it, so its votes, labels and new clips are rolled back.
_world = shared_world(_build)


@pytest.fixture
def clips(_world, db, _media_root):
    return world_for_test(_world, _media_root)["clips"]


def served_long_ago(user, kind):
    """Pretend the clip in hand has been heard to its end (moves served_at back, nothing else)."""
    Assignment.objects.filter(user=user, kind=kind, state="live").update(
        served_at=timezone.now() - timedelta(seconds=30)
    )


def accept_all(clips, validator):
    for _ in clips:
        handout = services.assignment_next(user=validator, project=clips[0].recording.source.project, kind=V)
        served_long_ago(validator, V)
        services.validation_vote(user=validator, clip_id=handout.assignment.clip_id, accept=True)


@pytest.mark.django_db
def test_new_clips_enter_validation_and_accepted_ones_the_labelling_pool(clips, make_user, project):
    assert len(clips) == 4
    assert PoolEntry.objects.filter(kind=V, open=True).count() == 4
    validator = make_user("val", "validator")

    handout = services.assignment_next(user=validator, project=project, kind=V)
    again = services.assignment_next(user=validator, project=project, kind=V)
    assert again.resumed and again.assignment.pk == handout.assignment.pk

    with pytest.raises(ApplicationError, match="Listen to the whole clip") as exc:
        services.validation_vote(user=validator, clip_id=handout.assignment.clip_id, accept=True)
    assert exc.value.status == 400 and not ValidationVote.objects.exists()

    # A rejection needs no listening to the end (an obviously bad clip is refused at once), but
    # still its reasons.
    with pytest.raises(ApplicationError, match="needs at least one reason"):
        services.validation_vote(user=validator, clip_id=handout.assignment.clip_id, accept=False)
    with pytest.raises(ApplicationError, match="Unknown rejection reason"):
        services.validation_vote(
            user=validator, clip_id=handout.assignment.clip_id, accept=False, reasons=["boring"]
        )
    services.validation_vote(
        user=validator, clip_id=handout.assignment.clip_id, accept=False, reasons=["music", "noise"]
    )
    assert not ValidationVote.objects.get().accept
    rejected = Clip.objects.get(pk=handout.assignment.clip_id)
    assert rejected.status == "rejected"
    assert sorted(rejected.validation_votes.get().reasons.values_list("code", flat=True)) == [
        "music",
        "noise",
    ]
    with pytest.raises(ApplicationError, match="already voted") as exc:
        services.validation_vote(user=validator, clip_id=rejected.pk, accept=True)
    assert exc.value.status == 409

    accept_all(clips[1:], validator)
    assert Clip.objects.filter(status="accepted").count() == 3
    assert PoolEntry.objects.filter(kind=L, open=True).count() == 3
    assert services.assignment_next(user=validator, project=project, kind=V) is None

    # A curator overturns the rejection; the clip joins the labelling pool.
    curator = make_user("cur", "curator")
    services.clip_decision_overturn(curator=curator, clip_id=rejected.pk, accept=True, note="music is faint")
    assert Clip.objects.get(pk=rejected.pk).status == "accepted"
    assert ClipDecision.objects.filter(clip=rejected, by_curator=curator, accepted=True).exists()
    assert PoolEntry.objects.filter(kind=L, open=True).count() == 4


@pytest.mark.django_db
def test_two_votes_needed_decide_as_common_voice_does(clips, make_user, project):
    config = services.config_for(project)
    config.validation_votes_needed = 2
    config.save()
    a, b, c = (make_user(n, "validator") for n in ("va", "vb", "vc"))
    clip_id = None
    for user, accept in ((a, True), (b, False), (c, True)):
        handout = services.assignment_next(user=user, project=project, kind=V)
        if clip_id is None:
            clip_id = handout.assignment.clip_id
        assert handout.assignment.clip_id == clip_id, "breadth-first: the clip with votes comes first"
        served_long_ago(user, V)
        services.validation_vote(user=user, clip_id=clip_id, accept=accept, reasons=[] if accept else ["cut"])
        status = Clip.objects.get(pk=clip_id).status
        assert status == ("accepted" if user is c else "awaiting_validation")


@pytest.mark.django_db
def test_each_clip_gets_exactly_k_blind_labels_from_distinct_annotators(clips, make_user, project):
    accept_all(clips, make_user("val", "validator"))
    # Every annotator gives another emotion: no clip would ever agree. Exactly K, as with
    # escalation off (test_escalation.py covers the dynamic overlap).
    config = services.config_for(project)
    config.escalation = "off"
    config.save()
    annotators = [make_user(f"ann{i}", "annotator") for i in range(4)]
    emotions = ["happy", "sad", "angry", "neutral"]
    labelled: dict[int, set[str]] = {}
    progress = True
    while progress:
        progress = False
        for i, user in enumerate(annotators):
            handout = services.assignment_next(user=user, project=project, kind=L)
            if handout is None:
                continue
            clip_id = handout.assignment.clip_id
            assert user.username not in labelled.get(clip_id, set()), "an annotator got the same clip twice"
            services.annotation_submit(
                user=user, clip_id=clip_id, emotion=emotions[i], gender="female", time_spent_ms=2500
            )
            labelled.setdefault(clip_id, set()).add(user.username)
            progress = True
    assert all(len(names) == 3 for names in labelled.values()) and len(labelled) == 4
    for clip in Clip.objects.filter(pk__in=labelled):
        assert clip.status == "labelled"
        assert clip.annotations.values("annotator").distinct().count() == 3
    assert not PoolEntry.objects.filter(kind=L, open=True).exists()
    # Breadth-first: the first three annotators finished the first clip before a new one began.
    first = Annotation.objects.order_by("id")[:3]
    assert len({a.clip_id for a in first}) == 1


@pytest.mark.django_db
def test_bad_submissions_get_a_clear_refusal_and_store_nothing_twice(clips, make_user, project):
    accept_all(clips, make_user("val", "validator"))
    ann, other = make_user("ann", "annotator"), make_user("other", "annotator")
    handout = services.assignment_next(user=ann, project=project, kind=L)
    clip_id = handout.assignment.clip_id
    not_held = next(c.pk for c in clips if c.pk != clip_id)

    cases = [
        (dict(clip_id=not_held, emotion="happy", gender="male"), 409, "do not hold"),
        (dict(clip_id=clip_id, emotion="joyful", gender="male"), 400, "Unknown emotion"),
        (dict(clip_id=clip_id, emotion="happy", gender=""), 400, "gender is missing"),
        (dict(clip_id=clip_id, emotion="happy", gender="robot"), 400, "Unknown gender"),
    ]
    for kwargs, status, message in cases:
        with pytest.raises(ApplicationError, match=message) as exc:
            services.annotation_submit(user=ann, **kwargs)
        assert exc.value.status == status
    assert not Annotation.objects.exists()
    services.annotation_submit(user=ann, clip_id=clip_id, emotion="happy", gender="male")
    with pytest.raises(ApplicationError, match="already labelled") as exc:
        services.annotation_submit(user=ann, clip_id=clip_id, emotion="sad", gender="male")
    assert exc.value.status == 409 and Annotation.objects.count() == 1
    with pytest.raises(ApplicationError) as refused:
        services.assignment_next(user=make_user("outsider-role", "validator"), project=project, kind=L)
    assert refused.value.status == 403
    assert services.assignment_next(user=other, project=project, kind=L).assignment.clip_id == clip_id


@pytest.mark.django_db
def test_expired_assignments_return_to_the_pool_but_a_late_label_is_kept_while_there_is_room(
    clips, make_user, project
):
    accept_all(clips[:1], make_user("val", "validator"))
    config = services.config_for(project)
    config.labels_per_clip = 2
    config.save()
    slow, a, b = (make_user(n, "annotator") for n in ("slow", "a", "b"))
    clip_id = services.assignment_next(user=slow, project=project, kind=L).assignment.clip_id
    Assignment.objects.filter(user=slow, state="live").update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )

    # The clip returns to the pool: a takes it; slow's late label still fits (2 of 2).
    assert services.assignment_next(user=a, project=project, kind=L).assignment.clip_id == clip_id
    assert Assignment.objects.get(user=slow).state == "expired"
    services.annotation_submit(user=slow, clip_id=clip_id, emotion="sad", gender="male")
    assert Annotation.objects.filter(annotator=slow).exists()
    # Now the clip is full (slow's label + a's live assignment): b gets nothing.
    assert services.assignment_next(user=b, project=project, kind=L) is None
    services.annotation_submit(user=a, clip_id=clip_id, emotion="sad", gender="male")
    assert Clip.objects.get(pk=clip_id).status == "labelled"


@pytest.mark.django_db
def test_a_late_label_on_a_full_clip_is_refused(clips, make_user, project):
    accept_all(clips[:1], make_user("val", "validator"))
    config = services.config_for(project)
    config.labels_per_clip = 1
    config.escalation = "off"  # one label fills the clip (with escalation, 1 vote < 2 asks for more)
    config.save()
    slow, fast = make_user("slow", "annotator"), make_user("fast", "annotator")
    clip_id = services.assignment_next(user=slow, project=project, kind=L).assignment.clip_id
    Assignment.objects.filter(user=slow, state="live").update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    services.assignment_next(user=fast, project=project, kind=L)
    services.annotation_submit(user=fast, clip_id=clip_id, emotion="angry", gender="male")

    with pytest.raises(ApplicationError, match="expired") as exc:
        services.annotation_submit(user=slow, clip_id=clip_id, emotion="sad", gender="male")
    assert exc.value.status == 409 and Annotation.objects.count() == 1


@pytest.mark.django_db
def test_flag_sends_a_clip_back_to_validation_keeping_its_labels(clips, make_user, project):
    validator = make_user("val", "validator")
    accept_all(clips[:1], validator)
    a, b = make_user("a", "annotator"), make_user("b", "annotator")
    clip_id = services.assignment_next(user=a, project=project, kind=L).assignment.clip_id
    services.annotation_submit(user=a, clip_id=clip_id, emotion="happy", gender="female")
    services.assignment_next(user=b, project=project, kind=L)

    with pytest.raises(ApplicationError, match="Say why"):
        services.clip_flag(user=b, clip_id=clip_id)
    services.clip_flag(user=b, clip_id=clip_id, reason="multiple_speakers")

    clip = Clip.objects.get(pk=clip_id)
    assert clip.status == "awaiting_validation" and clip.annotations.count() == 1
    assert not ValidationVote.objects.filter(clip=clip, active=True).exists()
    # The same validator may hear it again in the new round.
    assert services.assignment_next(user=validator, project=project, kind=V).assignment.clip_id == clip_id


@pytest.mark.django_db
def test_resegmentation_keeps_clips_with_votes_or_labels(
    clips, make_user, project, django_capture_on_commit_callbacks
):
    validator = make_user("val", "validator")
    handout = services.assignment_next(user=validator, project=project, kind=V)
    served_long_ago(validator, V)
    services.validation_vote(user=validator, clip_id=handout.assignment.clip_id, accept=True)
    voted = Clip.objects.get(pk=handout.assignment.clip_id)
    held = services.assignment_next(user=validator, project=project, kind=V).assignment.clip_id

    # The run is queued after commit: run it at the end of this block, as a commit would.
    with django_capture_on_commit_callbacks(execute=True):
        run = corpus_services.segmentation_run_create(recording=voted.recording, max_clip_s=3.0)

    run.refresh_from_db()
    assert run.status == "succeeded", run.traceback
    assert Clip.objects.filter(pk=voted.pk, start_s=voted.start_s, end_s=voted.end_s).exists()
    # A clip merely handed out (no vote) is not work: it was replaced, its assignment went with it.
    assert not Clip.objects.filter(pk=held).exists() and not Assignment.objects.filter(clip_id=held).exists()
    new = Clip.objects.filter(segmentation_run=run)
    assert new.exists() and PoolEntry.objects.filter(clip__in=new, kind=V).count() == new.count()


@pytest.mark.django_db
def test_api_roles_and_blindness(clips, make_user, project, outsider):
    validator, ann = make_user("val", "validator"), make_user("ann", "annotator")
    accept_all(clips, validator)
    client = APIClient()
    client.force_authenticate(ann)

    body = client.get("/api/annotation/next/").json()
    assert set(body["clip"]) == {"id", "duration_s", "audio_url"}  # blind: nothing but the audio
    assert client.get(body["clip"]["audio_url"]).status_code == 200
    other_clip = next(c for c in clips if c.pk != body["clip"]["id"])
    assert client.get(f"/api/clips/{other_clip.pk}/audio/").status_code == 404
    client.force_login(ann)  # the media view is a plain Django view: session login
    assert client.get(other_clip.audio.url).status_code == 404  # raw media is for curating roles
    assert client.get("/api/annotation/progress/").status_code == 403
    assert client.get("/api/validation/rejected/").status_code == 403
    assert (
        client.post(
            "/api/validation/decisions/", {"clip": other_clip.pk, "accept": False}, format="json"
        ).status_code
        == 403
    )

    r = client.post(
        "/api/annotation/annotations/", {"clip": body["clip"]["id"], "emotion": "neutral"}, format="json"
    )
    assert r.status_code == 400 and r.json()["detail"] == "The speaker's gender is missing."
    r = client.post(
        "/api/annotation/annotations/",
        {"clip": body["clip"]["id"], "emotion": "neutral", "gender": "male", "time_spent_ms": 1800},
        format="json",
    )
    assert r.status_code == 201 and r.json()["counts"]["labelled_total"] == 1
    r = client.post(
        "/api/annotation/annotations/",
        {"clip": body["clip"]["id"], "emotion": "neutral", "gender": "male"},
        format="json",
    )
    assert r.status_code == 409

    client.force_authenticate(validator)
    assert client.get("/api/annotation/next/").status_code == 403
    client.force_authenticate(outsider)
    assert client.get("/api/validation/next/?project=tuniser").status_code == 404  # not theirs
    client.force_authenticate(None)
    assert client.get("/api/annotation/next/").status_code in (401, 403)

    curator = make_user("cur", "curator")
    client.force_authenticate(curator)
    progress = client.get("/api/annotation/progress/").json()
    assert progress["annotators"][0]["user"] == "ann" and progress["annotators"][0]["done"] == 1
    assert progress["annotators"][0]["median_s_per_clip"] == 1.8
    assert progress["validators"][0]["done"] == 4


@pytest.mark.django_db
def test_a_forged_shown_prediction_is_not_stored(clips, make_user, project):
    """The suggestion shown is the server's to record: with no pre-labeller shown, a client's
    claim of one is dropped."""
    accept_all(clips, make_user("val", "validator"))
    ann = make_user("ann", "annotator")
    clip_id = services.assignment_next(user=ann, project=project, kind=L).assignment.clip_id
    forged = {"label": "happy", "probabilities": {"happy": 1.0}, "model_version": 999}
    annotation = services.annotation_submit(
        user=ann, clip_id=clip_id, emotion="sad", gender="female", shown_prediction=forged
    )
    annotation.refresh_from_db()
    assert annotation.shown_prediction is None


@pytest.mark.django_db
def test_an_expired_handout_returns_the_clip_to_its_holder_and_the_home_count_agrees(
    clips, make_user, project, client
):
    """K=3 with three annotators: anno lets the clip expire, the two others label it; anno must
    be offered it again (or it never reaches K), and anno's home Queue counts what /annotate/ serves.
    A skip stays final: the clip never returns to who gave it back."""
    from annotation import selectors

    accept_all(clips[:1], make_user("val", "validator"))
    anno, b, c = (make_user(n, "annotator") for n in ("anno", "b", "c"))
    clip_id = services.assignment_next(user=anno, project=project, kind=L).assignment.clip_id
    lapsed = timezone.now() - timedelta(seconds=1)
    Assignment.objects.filter(user=anno, state="live").update(expires_at=lapsed)
    for other in (b, c):
        assert services.assignment_next(user=other, project=project, kind=L).assignment.clip_id == clip_id
        services.annotation_submit(user=other, clip_id=clip_id, emotion="sad", gender="male")

    assert Assignment.objects.get(user=anno).state == "expired"
    assert selectors.work_overview(user=anno).labelling_queue == 1
    client.force_login(anno)
    assert 'data-count="labelling_queue">1<' in client.get("/").content.decode()
    handout = services.assignment_next(user=anno, project=project, kind=L)
    assert handout is not None and handout.assignment.clip_id == clip_id and not handout.resumed
    assert selectors.work_overview(user=anno).labelling_queue == 1  # held: /annotate/ serves it again
    services.annotation_submit(user=anno, clip_id=clip_id, emotion="sad", gender="male")
    assert Clip.objects.get(pk=clip_id).status == "labelled"
    assert selectors.work_overview(user=anno).labelling_queue == 0
    assert services.assignment_next(user=anno, project=project, kind=L) is None

    # A skip is final for who skipped, an expiry is not; the home count follows both.
    accept_all(clips[1:2], make_user("val2", "validator"))
    second = clips[1].pk
    assert services.assignment_next(user=b, project=project, kind=L).assignment.clip_id == second
    services.assignment_skip(user=b, clip_id=second, kind=L)
    assert selectors.work_overview(user=b).labelling_queue == 0
    assert services.assignment_next(user=b, project=project, kind=L) is None
    assert services.assignment_next(user=c, project=project, kind=L).assignment.clip_id == second
    Assignment.objects.filter(user=c, state="live").update(expires_at=timezone.now() - timedelta(seconds=1))
    # The home page sweeps the lapsed hand-out before counting: the count and the hand-out agree.
    client.force_login(c)
    assert 'data-count="labelling_queue">1<' in client.get("/").content.decode()
    assert Assignment.objects.get(user=c, clip_id=second).state == "expired"
    assert services.assignment_next(user=c, project=project, kind=L).assignment.clip_id == second
