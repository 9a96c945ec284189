"""Attacks on the crowd-labelling features (hidden checks, pausing, exclusion, escalation, quotas)
as real users would try them, through the real services and API over real clips."""

from __future__ import annotations

from datetime import timedelta
from functools import partial

import pytest
from django.urls import reverse
from django.utils import timezone

from annotation import consensus, services
from annotation.models import (
    Annotation,
    AnnotationConfig,
    AnnotatorStanding,
    Assignment,
    CheckAnswer,
    ClipConsensus,
    PoolEntry,
    QuotaTarget,
)
from annotation.tests.factories import gold_check_world
from conftest import api, shared_world, world_for_test
from core.errors import ApplicationError

L = services.LABELLING
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_speaker_step")]

# One world for the module (seconds of real ingest and segmentation): each test runs in a
# savepoint of the transaction that holds it, so what a test changes is rolled back.
_world = shared_world(partial(gold_check_world, n_pool=6, n_checks=3))


@pytest.fixture
def world(_world, db, _media_root):
    return world_for_test(_world, _media_root)


def _config(project, **values) -> None:
    AnnotationConfig.objects.update_or_create(project=project, defaults=values)


def _submit(client, clip_id: int, emotion: str = "sad"):
    return client.post(
        reverse("annotation-api:submit"),
        {"clip": clip_id, "emotion": emotion, "gender": "male"},
        format="json",
    )


def test_the_submit_answer_id_does_not_tell_a_check_from_a_label(world, django_user_model):
    """Annotation ids and CheckAnswer ids are two sequences: an `id` in the answer that jumps
    back (a check) between growing ids (labels) would give every check away. The answer names
    the hand-out instead (one sequence for both)."""
    project, amel = world["project"], world["annotators"][0]
    # Other people's labels push the Annotation sequence ahead of the CheckAnswer one.
    for who in world["annotators"][1:]:
        _config(project, check_rate=0.0)
        for _ in range(2):
            h = services.assignment_next(user=who, project=project, kind=L)
            services.annotation_submit(user=who, clip_id=h.assignment.clip_id, emotion="sad", gender="male")
    c = api(amel)
    ids, kinds = [], []
    for rate in (0.0, 1.0, 0.0, 1.0, 0.0):
        _config(project, check_rate=rate, check_warmup=0)
        clip = c.get(reverse("annotation-api:next")).json()["clip"]
        kinds.append(Assignment.objects.get(user=amel, state="live").gold_check_id is not None)
        sub = _submit(c, clip["id"])
        assert sub.status_code == 201
        assert "id" not in sub.json()
        ids.append(sub.json()["assignment"])
    assert kinds == [False, True, False, True, False]
    assert ids == sorted(ids) and len(set(ids)) == len(ids), ids


def test_a_paused_annotator_cannot_slip_a_label_in_through_an_expired_hand_out(world):
    """Paused means no labelling work in the project: a clip handed out before the pause (its
    assignment expired meanwhile) must not take their label afterwards."""
    project, amel = world["project"], world["annotators"][0]
    _config(project, check_rate=0.0)
    held = services.assignment_next(user=amel, project=project, kind=L)
    Assignment.objects.filter(pk=held.assignment.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    services.assignments_expire_stale()
    AnnotatorStanding.objects.create(project=project, user=amel, paused=True, paused_at=timezone.now())
    refused = _submit(api(amel), held.assignment.clip_id)
    assert (refused.status_code, refused.json()["code"]) == (403, "paused")
    assert not Annotation.objects.filter(annotator=amel).exists()


def test_a_blocked_annotator_is_refused_alike_on_a_check_and_on_an_ordinary_clip(world):
    """An excluded annotator holding an (expired) check and one holding an (expired) ordinary
    clip get the same refusal: otherwise the answer tells which one was the check."""
    project, (amel, bilel, _) = world["project"], world["annotators"]
    seen = {}
    for who, rate in ((amel, 1.0), (bilel, 0.0)):
        _config(project, check_rate=rate)
        held = services.assignment_next(user=who, project=project, kind=L)
        assert (held.assignment.gold_check_id is not None) == (rate == 1.0)
        services.annotator_standing_set(
            curator=world["curator"], project=project, user_id=who.pk, action="exclude"
        )
        resp = _submit(api(who), held.assignment.clip_id)
        seen[who.username] = (resp.status_code, resp.json().get("code"))
    assert seen["amel"] == seen["bilel"] == (403, "paused")
    assert not CheckAnswer.objects.exists()


def test_a_curator_of_b_cannot_touch_a_annotators_or_clips(world):
    project, cur_b, amel = world["project"], world["curator_b"], world["annotators"][0]
    url = reverse("annotation-api:annotator-standing", args=[amel.pk])
    # Naming A's project does not help: cur_b is not a member of it.
    resp = api(cur_b).post(url + f"?project={project.slug}", {"action": "exclude"}, format="json")
    assert resp.status_code in (403, 404)
    resp = api(cur_b).post(url, {"action": "exclude"}, format="json")
    assert resp.status_code == 404
    assert not AnnotatorStanding.objects.filter(user=amel).exists()
    progress = api(cur_b).get(reverse("annotation-api:progress") + f"?project={project.slug}")
    assert progress.status_code in (403, 404)
    listed = api(cur_b).get(reverse("annotation-api:checks") + f"?project={project.slug}")
    assert listed.status_code in (403, 404)
    own = api(cur_b).get(reverse("annotation-api:progress")).json()
    assert "amel" not in str(own)


@pytest.mark.parametrize(
    "plan, method",
    [
        (["sad", "happy", "sad"], "majority"),
        (["sad", "happy", "angry", "sad"], "majority"),  # escalated to a fourth rater
        (["sad", "happy", "angry", "neutral", "fear"], "majority"),  # a tie at the maximum
        (["sad", "happy", "sad", "sad"], "dawid_skene"),
    ],
)
def test_exclusion_then_reinclusion_restores_the_consensus_exactly(world, django_user_model, plan, method):
    from conftest import _user

    project = world["project"]
    raters = [
        *world["annotators"],
        *(_user(django_user_model, f"x{i}", "annotator", project=project) for i in range(2)),
    ]
    amel = raters[0]
    _config(project, check_rate=0.0, escalation="no_majority", max_labels_per_clip=5, consensus_method=method)
    for who, emotion in zip(raters, plan, strict=False):
        while (h := services.assignment_next(user=who, project=project, kind=L)) is not None:
            services.annotation_submit(user=who, clip_id=h.assignment.clip_id, emotion=emotion, gender="male")
    # Labels are judged by majority as they arrive; the project's method (Dawid-Skene) applies
    # on a recompute, which exclusion runs too: compare with what a recompute gives.
    consensus.consensus_recompute(project=project)
    fields = ("clip_id", "status", "emotion_id", "gender_id", "n_agree", "n_votes", "method", "distribution")
    before = sorted(ClipConsensus.objects.filter(clip_id__in=world["pool"]).values_list(*fields))
    entries = sorted(
        PoolEntry.objects.filter(clip_id__in=world["pool"], kind=L).values_list(
            "clip_id", "n_done", "n_live", "open", "wanted", "escalated"
        )
    )
    for action in ("exclude", "include"):
        services.annotator_standing_set(
            curator=world["curator"], project=project, user_id=amel.pk, action=action
        )
    assert sorted(ClipConsensus.objects.filter(clip_id__in=world["pool"]).values_list(*fields)) == before
    assert (
        sorted(
            PoolEntry.objects.filter(clip_id__in=world["pool"], kind=L).values_list(
                "clip_id", "n_done", "n_live", "open", "wanted", "escalated"
            )
        )
        == entries
    )


def test_no_rater_gets_a_clip_twice_across_escalation_and_checks(world, django_user_model):
    from conftest import _user

    project = world["project"]
    _config(project, check_rate=0.3, check_warmup=1, escalation="no_majority", max_labels_per_clip=5)
    raters = [
        *world["annotators"],
        *(_user(django_user_model, f"r{i}", "annotator", project=project) for i in range(4)),
    ]
    emotions = ["sad", "happy", "angry", "neutral", "sad", "happy", "angry"]
    for _round in range(6):
        for who, emotion in zip(raters, emotions, strict=True):
            h = services.assignment_next(user=who, project=project, kind=L)
            if h is not None:
                services.annotation_submit(
                    user=who, clip_id=h.assignment.clip_id, emotion=emotion, gender="male"
                )
    pairs = list(Assignment.objects.filter(kind=L).values_list("user_id", "clip_id"))
    assert len(pairs) == len(set(pairs))
    labels = list(Annotation.objects.values_list("annotator_id", "clip_id"))
    answers = list(CheckAnswer.objects.values_list("user_id", "clip_id"))
    assert not set(labels) & set(answers)
    assert PoolEntry.objects.filter(kind=L, escalated=True).exists()


BAD_QUOTA_BODIES = [
    {"emotion": "sad", "target": -1},
    {"emotion": "nope", "target": 3},
    {"emotion": "male", "target": 3},
    {"emotion": "sad", "gender": "sad", "target": 3},
    {"emotion": "sad", "gender": "unknown-g", "target": 3},
    {"emotion": "sad", "target": 2**40},
    {"emotion": "sad", "target": "lots"},
    {"emotion": "sad", "target": 2.5},
    {"emotion": "sad", "target": None},
    {"emotion": None, "target": 3},
    {"emotion": ["sad"], "target": 3},
    {"emotion": {"code": "sad"}, "target": 3},
    {"emotion": "sad", "gender": ["male"], "target": 3},
    {"target": 3},
    {"emotion": "x" * 500, "target": 3},
]


def test_bad_quota_input_is_a_4xx_and_writes_nothing(world):
    """One world for every bad body (each built world costs seconds of real segmentation)."""
    for body in BAD_QUOTA_BODIES:
        resp = api(world["curator"]).post(reverse("annotation-api:quota-targets"), body, format="json")
        assert 400 <= resp.status_code < 500, (body, resp.status_code, resp.content[:300])
        assert not QuotaTarget.objects.exists(), body


def test_quota_duplicates_and_other_projects_rows(world):
    cur, cur_b = world["curator"], world["curator_b"]
    url = reverse("annotation-api:quota-targets")
    first = api(cur).post(url, {"emotion": "sad", "gender": "", "target": 3}, format="json")
    again = api(cur).post(url, {"emotion": "sad", "gender": None, "target": 4}, format="json")
    assert (first.status_code, again.status_code) == (201, 200)
    assert QuotaTarget.objects.count() == 1 and QuotaTarget.objects.get().target == 4
    row = QuotaTarget.objects.get()
    detail = reverse("annotation-api:quota-target", args=[row.pk])
    assert api(cur_b).patch(detail, {"target": 9}, format="json").status_code == 404
    assert api(cur_b).delete(detail).status_code == 404
    assert api(cur).patch(detail, {"target": -2}, format="json").status_code == 400
    assert api(cur).patch(detail, {"target": "x"}, format="json").status_code == 400
    assert QuotaTarget.objects.get().target == 4
    # cur_b naming A's project sees and sets nothing there.
    assert api(cur_b).get(url + f"?project={world['project'].slug}").status_code in (403, 404)
    assert api(cur_b).post(
        url + f"?project={world['project'].slug}", {"emotion": "sad", "target": 1}, format="json"
    ).status_code in (403, 404)
    assert api(cur).get(url + "?project=" + "x" * 300).status_code in (400, 404)


def test_marking_a_check_of_the_other_project_by_service_is_refused(world):
    with pytest.raises(ApplicationError) as exc:
        services.gold_check_unmark(curator=world["curator"], clip_id=world["check_b"])
    assert exc.value.status == 404


def _probe(c, clip_id: int) -> dict:
    """What an annotator sees when they poke at a clip they no longer hold."""
    out = {}
    for name, url, body in (
        ("skip", "annotation-api:skip", {"clip": clip_id}),
        ("flag", "annotation-api:flag", {"clip": clip_id, "comment": "two voices"}),
        ("submit", "annotation-api:submit", {"clip": clip_id, "emotion": "sad", "gender": "male"}),
    ):
        resp = c.post(reverse(url), body, format="json")
        out[name] = (resp.status_code, resp.json().get("code"), resp.json().get("detail"))
    return out


@pytest.mark.parametrize("how", ["answered", "skipped"])
def test_poking_at_a_clip_after_answering_or_skipping_it_does_not_tell_a_check(world, how):
    """Skip, flag or label again a clip already answered (or given back): the refusals must
    read the same for a check (an imported gold clip, no pool entry) and an ordinary clip."""
    project, (amel, bilel, _) = world["project"], world["annotators"]
    seen = {}
    for who, rate in ((amel, 1.0), (bilel, 0.0)):
        _config(project, check_rate=rate)
        c = api(who)
        clip_id = c.get(reverse("annotation-api:next")).json()["clip"]["id"]
        assert (clip_id in world["checks"]) == (rate == 1.0)
        if how == "answered":
            assert _submit(c, clip_id).status_code == 201
        else:
            assert c.post(reverse("annotation-api:skip"), {"clip": clip_id}, format="json").status_code == 200
        seen[rate] = _probe(c, clip_id)
    assert seen[1.0] == seen[0.0]
    assert all(status == 409 for status, _code, _detail in seen[0.0].values())


def test_the_audio_response_headers_do_not_tell_an_imported_check_clip(world):
    """An imported corpus clip is stored as `clips/<recording>/whole.wav`, a segmented one as
    `clips/<recording>/run<n>/<i>_<ms>.wav`: a header naming the stored file (FileResponse's
    Content-Disposition) would tell a check from an ordinary clip."""
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage

    from corpus.models import Clip

    project, (amel, bilel, _) = world["project"], world["annotators"]
    for clip_id in world["checks"]:
        clip = Clip.objects.get(pk=clip_id)
        with default_storage.open(clip.audio.name, "rb") as fh:
            key = default_storage.save(f"clips/{clip.recording_id}/whole.wav", ContentFile(fh.read()))
        Clip.objects.filter(pk=clip_id).update(audio=key)
    headers = {}
    for who, rate in ((amel, 1.0), (bilel, 0.0)):
        _config(project, check_rate=rate)
        c = api(who)
        clip = c.get(reverse("annotation-api:next")).json()["clip"]
        assert (clip["id"] in world["checks"]) == (rate == 1.0)
        resp = c.get(clip["audio_url"])
        assert resp.status_code == 200
        stored = Clip.objects.get(pk=clip["id"]).audio.name.rsplit("/", 1)[-1]
        assert all(stored not in value for value in resp.headers.values()), dict(resp.headers)
        headers[rate] = {
            k: v.replace(str(clip["id"]), "ID")
            for k, v in resp.headers.items()
            if k not in ("Content-Length",)
        }
    assert headers[1.0] == headers[0.0]


def _invariants(project) -> None:
    """Pool counters, clip status and consensus agree, whatever the settings went through."""

    config = services.config_for(project)
    counted = {}
    for clip_id in consensus.counted_annotations(project=project).values_list("clip_id", flat=True):
        counted[clip_id] = counted.get(clip_id, 0) + 1
    for entry in PoolEntry.objects.filter(project=project, kind=L).select_related("clip"):
        cons = ClipConsensus.objects.filter(clip_id=entry.clip_id).first()
        if cons is not None and cons.status in services.PROTECTED_CONSENSUS:
            continue
        where = (entry.clip_id, entry.n_done, entry.n_live, entry.wanted, entry.open, entry.escalated)
        assert entry.n_done == counted.get(entry.clip_id, 0), where
        assert entry.open == (entry.n_done + entry.n_live < entry.wanted), where
        assert config.labels_per_clip <= entry.wanted <= config.max_raters, where
        if entry.clip.status == "labelled":
            assert cons is not None and cons.status in ("agreed", "needs_adjudication"), (where, cons)
            assert not entry.open, where
        elif cons is not None:  # none before a clip's K-th label; pending while it waits for more
            assert cons.status == "pending", (where, cons.status)


def test_escalation_survives_k_and_maximum_changed_mid_way(world, django_user_model):
    from conftest import _user

    project = world["project"]
    _config(project, check_rate=0.0, escalation="no_majority", max_labels_per_clip=5, labels_per_clip=3)
    raters = [
        *world["annotators"],
        *(_user(django_user_model, f"k{i}", "annotator", project=project) for i in range(5)),
    ]
    emotions = ["sad", "happy", "angry", "sad", "happy", "neutral", "sad", "angry"]
    steps = [
        {"labels_per_clip": 4},
        {"max_labels_per_clip": 3},
        {"labels_per_clip": 2},
        {"max_labels_per_clip": 6, "escalation": "below_agreement"},
        {"escalation": "off"},
        {"labels_per_clip": 5, "escalation": "no_majority", "max_labels_per_clip": 7},
    ]
    step = iter(steps)
    for who, emotion in zip(raters, emotions, strict=True):
        live = []
        for _ in range(3):
            h = services.assignment_next(user=who, project=project, kind=L)
            if h is None:
                break
            services.annotation_submit(user=who, clip_id=h.assignment.clip_id, emotion=emotion, gender="male")
        # One hand-out left live across the settings change, answered after it.
        h = services.assignment_next(user=who, project=project, kind=L)
        if h is not None:
            live.append(h.assignment.clip_id)
        change = next(step, None)
        if change:
            _config(project, **change)
            services.pool_reevaluate(project=project)
        _invariants(project)
        for clip_id in live:
            services.annotation_submit(user=who, clip_id=clip_id, emotion=emotion, gender="male")
        _invariants(project)
    pairs = list(Assignment.objects.filter(kind=L).exclude(state="expired").values_list("user_id", "clip_id"))
    assert len(pairs) == len(set(pairs))
    assert PoolEntry.objects.filter(project=project, kind=L, escalated=True).exists()
    assert Annotation.objects.filter(clip_id__in=world["pool"]).count() > 3 * len(world["pool"])


def test_quota_targets_in_the_admin_refuse_duplicates_and_wrong_options(world, client, django_user_model):
    from annotation.models import LabelOption

    admin_user = django_user_model.objects.create_superuser("root", "root@example.org", "pw-root-123456")
    client.force_login(admin_user)
    url = reverse("admin:annotation_quotatarget_add")
    sad = LabelOption.objects.get(kind="emotion", code="sad")
    male = LabelOption.objects.get(kind="gender", code="male")
    project = world["project"]
    ok = client.post(url, {"project": project.pk, "emotion": sad.pk, "gender": "", "target": 5})
    assert ok.status_code == 302 and QuotaTarget.objects.count() == 1
    for body in (
        {"project": project.pk, "emotion": sad.pk, "gender": "", "target": 7},  # duplicate any-gender cell
        {"project": project.pk, "emotion": male.pk, "gender": "", "target": 7},  # a gender as emotion
        {"project": project.pk, "emotion": sad.pk, "gender": sad.pk, "target": 7},  # an emotion as gender
        {"project": project.pk, "emotion": sad.pk, "gender": male.pk, "target": -3},
    ):
        resp = client.post(url, body)
        assert resp.status_code == 200, (body, resp.status_code)  # the form again, with its error
    assert list(QuotaTarget.objects.values_list("target", flat=True)) == [5]


def test_the_adjudication_queue_shows_only_the_labels_that_count(world, django_user_model):
    """A curator deciding a clip sees the labels its consensus was computed on: an excluded
    annotator's labels (kept, not counted) are not among them."""
    from conftest import _user

    project, (amel, bilel, chiraz) = world["project"], world["annotators"]
    dora = _user(django_user_model, "dora", "annotator", project=project)
    _config(project, check_rate=0.0, escalation="off", labels_per_clip=4)
    for who, emotion in ((amel, "sad"), (bilel, "happy"), (chiraz, "angry"), (dora, "neutral")):
        while (h := services.assignment_next(user=who, project=project, kind=L)) is not None:
            services.annotation_submit(user=who, clip_id=h.assignment.clip_id, emotion=emotion, gender="male")
    _config(project, labels_per_clip=3)
    services.pool_reevaluate(project=project)
    services.annotator_standing_set(
        curator=world["curator"], project=project, user_id=dora.pk, action="exclude"
    )
    assert set(ClipConsensus.objects.filter(clip_id__in=world["pool"]).values_list("status", "n_votes")) == {
        ("needs_adjudication", 3)
    }
    items = api(world["curator"]).get(reverse("annotation-api:adjudication-queue")).json()["results"]
    assert sorted(i["clip"] for i in items) == sorted(world["pool"])
    for item in items:
        assert sorted(label["annotator"] for label in item["labels"]) == ["amel", "bilel", "chiraz"], item


def test_a_paused_annotator_cannot_send_clips_back_to_validation(world):
    """Paused or excluded: no flag either, on an ordinary clip or a check alike (a flag sends an
    accepted clip back to validation: work, and a way to disrupt the pool)."""
    from corpus.models import Clip

    project, (amel, bilel, _) = world["project"], world["annotators"]
    seen = {}
    for who, rate in ((amel, 1.0), (bilel, 0.0)):
        _config(project, check_rate=rate)
        held = services.assignment_next(user=who, project=project, kind=L)
        Assignment.objects.filter(pk=held.assignment.pk).update(
            expires_at=timezone.now() - timedelta(minutes=1)
        )
        services.assignments_expire_stale()
        AnnotatorStanding.objects.create(project=project, user=who, paused=True, paused_at=timezone.now())
        resp = api(who).post(
            reverse("annotation-api:flag"),
            {"clip": held.assignment.clip_id, "comment": "noise"},
            format="json",
        )
        seen[rate] = (resp.status_code, resp.json().get("code"))
        if rate == 0.0:
            assert Clip.objects.get(pk=held.assignment.clip_id).status == Clip.Status.ACCEPTED
    assert seen[1.0] == seen[0.0] == (403, "paused")


def test_a_check_left_to_expire_does_not_come_back_as_an_ordinary_clip(world, django_user_model):
    """An agreed pool clip marked as a check, handed to dora as a check and left to expire, then
    reopened by a higher K: dora must not get it again from the pool (she heard it), nor answer
    it twice (a label and a check answer)."""
    from conftest import _user

    project, raters = world["project"], world["annotators"]
    dora = _user(django_user_model, "dora", "annotator", project=project)
    _config(project, check_rate=0.0, escalation="off", labels_per_clip=3)
    for who in raters:
        while (h := services.assignment_next(user=who, project=project, kind=L)) is not None:
            services.annotation_submit(user=who, clip_id=h.assignment.clip_id, emotion="sad", gender="male")
    target = world["pool"][0]
    for clip_id in world["checks"]:
        services.gold_check_unmark(curator=world["curator"], clip_id=clip_id)
    services.gold_check_mark(curator=world["curator"], clip_id=target)
    _config(project, check_rate=0.5, check_warmup=1)
    got = services.assignment_next(user=dora, project=project, kind=L)
    assert got is None  # nothing in the pool: no check either
    _config(project, labels_per_clip=4)
    services.pool_reevaluate(project=project)
    got = services.assignment_next(user=dora, project=project, kind=L)  # warm-up: the check
    assert got.assignment.gold_check_id is not None and got.assignment.clip_id == target
    Assignment.objects.filter(pk=got.assignment.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    _config(project, check_rate=0.0)
    handed = []
    while (h := services.assignment_next(user=dora, project=project, kind=L)) is not None:
        handed.append(h.assignment.clip_id)
        services.annotation_submit(user=dora, clip_id=h.assignment.clip_id, emotion="sad", gender="male")
    assert target not in handed
    # Her late answer to the expired check is taken (as a late label would be), once.
    assert _submit(api(dora), target).status_code == 201
    assert _submit(api(dora), target).status_code == 409
    n_answers = Annotation.objects.filter(annotator=dora, clip_id=target).count()
    n_answers += CheckAnswer.objects.filter(user=dora, clip_id=target).count()
    assert n_answers == 1
