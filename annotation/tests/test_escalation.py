"""Dynamic overlap: a clip whose K labels disagree goes back to the pool for one more rater at a
time, first in the queue, up to the maximum; its consensus stays "pending" until then."""

from __future__ import annotations

import krippendorff
import numpy as np
import pytest
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db import transaction
from django.forms.models import model_to_dict
from statsmodels.stats.inter_rater import fleiss_kappa as sm_fleiss_kappa

from annotation import agreement, policies, selectors, services
from annotation.consensus import adjudicate, adjudication_queue, consensus_recompute
from annotation.guideline import ensure_guideline
from annotation.models import AnnotationConfig, ClipConsensus, PoolEntry
from annotation.tests.factories import clone_clips, ingest_segmented
from conftest import api, shared_world, world_for_test
from core.models import Project
from corpus import services as corpus_services
from corpus.models import Clip
from corpus.tests import media_files as mf

pytestmark = pytest.mark.usefixtures("no_speaker_step")

L = services.LABELLING


def _build(*, project, django_user_model, tmp_path, data_dir) -> dict:
    ensure_guideline()
    samples, rate = mf.ravdess_speech(data_dir, n=1)
    source = corpus_services.source_get_or_create(project=project, title="Escalation")
    return {"recording": ingest_segmented(source, mf.write_wav(tmp_path / "a.wav", samples, rate))}


# One real recording for the module (seconds of ingest and segmentation): each test runs in a
# savepoint of the transaction that holds it, so the clips and labels a test adds are rolled back.
_world = shared_world(_build)


@pytest.fixture
def recording(_world, db, _media_root):
    return world_for_test(_world, _media_root)["recording"]


@pytest.fixture
def annotators(django_user_model, project):
    group = Group.objects.get_or_create(name="annotator")[0]

    def make(*names: str, into: Project | None = None):
        users = []
        for name in names:
            user = django_user_model.objects.create_user(username=name, password="x")
            user.groups.add(group)
            (into or project).members.add(user)
            users.append(user)
        return users

    return make


def configure(project, **fields) -> AnnotationConfig:
    config = services.config_for(project)
    for key, value in fields.items():
        setattr(config, key, value)
    config.full_clean()
    config.save()
    return config


def label(user, project, emotion: str, gender: str = "female") -> int | None:
    """`user` asks for the next clip and labels it; the clip id, or None when nothing is left."""
    handout = services.assignment_next(user=user, project=project, kind=L)
    if handout is None:
        return None
    clip_id = handout.assignment.clip_id
    services.annotation_submit(user=user, clip_id=clip_id, emotion=emotion, gender=gender)
    return clip_id


def state(clip_id: int) -> tuple[str, bool, bool, int, str | None]:
    """(clip status, entry open, entry escalated, entry wanted, consensus status or None)."""
    entry = PoolEntry.objects.get(kind=L, clip_id=clip_id)
    consensus = ClipConsensus.objects.filter(clip_id=clip_id).values_list("status", flat=True).first()
    return Clip.objects.get(pk=clip_id).status, entry.open, entry.escalated, entry.wanted, consensus


# --- the rule ------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_tie_gets_one_more_rater_at_a_time_and_the_consensus_follows_every_label(
    recording, annotators, project
):
    (clip_id,) = clone_clips(recording, 1)
    a, b, c, d = annotators("a", "b", "c", "d")
    for user, emotion in ((a, "happy"), (b, "sad")):
        assert label(user, project, emotion) == clip_id
    assert state(clip_id) == ("accepted", True, False, 3, None)  # below K: no consensus yet

    assert label(c, project, "angry") == clip_id  # 1/1/1 at K: one rater more
    assert state(clip_id) == ("accepted", True, True, 4, "pending")
    pending = ClipConsensus.objects.get(clip_id=clip_id)
    assert (pending.n_votes, pending.emotion) == (3, None)
    assert pending.agreement == "pending"

    assert label(d, project, "happy") == clip_id  # 2/1/1: a majority, final
    assert state(clip_id) == ("labelled", False, True, 4, "agreed")
    final = ClipConsensus.objects.get(clip_id=clip_id)
    assert (final.emotion.code, final.n_votes, final.n_agree) == ("happy", 4, 2)
    assert final.distribution == {"angry": 0.25, "happy": 0.5, "sad": 0.25}
    assert final.agreement == "2/4"


@pytest.mark.django_db
def test_five_raters_never_the_same_twice_and_a_tie_at_the_maximum_goes_to_a_curator(
    recording, annotators, project, curator
):
    configure(project, consensus_min_votes=3)  # the winner needs 3 votes
    (clip_id,) = clone_clips(recording, 1)
    users = annotators("r1", "r2", "r3", "r4", "r5", "r6")
    plan = ["happy", "sad", "happy", "sad", "angry"]  # 2/1 at K, 2/2, then a 2/2/1 tie at the maximum
    for n, (user, emotion) in enumerate(zip(users, plan, strict=False), start=1):
        assert label(user, project, emotion) == clip_id
        # Whoever labelled it never gets it back, whatever round it is in.
        for earlier in users[:n]:
            assert services.assignment_next(user=earlier, project=project, kind=L) is None
        if 3 <= n < 5:
            assert state(clip_id)[:3] == ("accepted", True, True)
            assert ClipConsensus.objects.get(clip_id=clip_id).n_votes == n
            # Still escalating: neither a curator's tie nor a release candidate.
            assert not adjudication_queue(project=project, curator=curator).exists()
    assert state(clip_id) == ("labelled", False, True, 5, "needs_adjudication")
    assert clip_id in adjudication_queue(project=project, curator=curator).values_list("clip_id", flat=True)
    assert ClipConsensus.objects.get(clip_id=clip_id).n_votes == 5
    assert services.assignment_next(user=users[5], project=project, kind=L) is None  # 5 is the most
    assert Clip.objects.get(pk=clip_id).annotations.values("annotator").distinct().count() == 5


@pytest.mark.django_db
def test_the_maximum_stops_escalation_and_an_escalating_clip_is_never_released(
    recording, annotators, project, curator
):
    configure(project, max_labels_per_clip=4, consensus_min_votes=2)
    (clip_id,) = clone_clips(recording, 1)
    a, b, c, d, e = annotators("a", "b", "c", "d", "e")
    for user, emotion in ((a, "happy"), (b, "sad"), (c, "sad")):
        label(user, project, emotion)
    # 2/3 is a majority under "no_majority": labelled at K.
    assert state(clip_id)[0] == "labelled"

    (tie,) = clone_clips(recording, 1, start=2000.0)
    for user, emotion in ((a, "happy"), (b, "sad"), (c, "angry")):
        assert label(user, project, emotion) == tie
    # The rule releases take clips by (`usable_q`): the pending tie is not among them.
    assert list(ClipConsensus.objects.usable().values_list("clip_id", flat=True)) == [clip_id]
    assert label(d, project, "neutral") == tie  # 4 labels, all different: the maximum is 4
    assert state(tie) == ("labelled", False, True, 4, "needs_adjudication")
    assert services.assignment_next(user=e, project=project, kind=L) is None


@pytest.mark.django_db
def test_escalation_off_is_k_labels_then_a_curator_as_before(recording, annotators, project, curator):
    configure(project, escalation="off")
    (clip_id,) = clone_clips(recording, 1)
    a, b, c, d = annotators("a", "b", "c", "d")
    for user, emotion in ((a, "happy"), (b, "sad"), (c, "angry")):
        label(user, project, emotion)
    assert state(clip_id) == ("labelled", False, False, 3, "needs_adjudication")
    assert services.assignment_next(user=d, project=project, kind=L) is None
    assert list(adjudication_queue(project=project, curator=curator).values_list("clip_id", flat=True)) == [
        clip_id
    ]


@pytest.mark.django_db
def test_below_agreement_wants_a_winner_share_not_just_a_majority(recording, annotators, project):
    configure(project, escalation="below_agreement", escalation_min_agreement=0.7)
    (clip_id,) = clone_clips(recording, 1)
    a, b, c, d, e = annotators("a", "b", "c", "d", "e")
    for user, emotion in ((a, "happy"), (b, "happy"), (c, "sad")):
        label(user, project, emotion)
    # 2/3 = 0.67 < 0.7: one more, although "no_majority" would call it agreed.
    assert state(clip_id) == ("accepted", True, True, 4, "pending")
    label(d, project, "sad")  # 2/2: a tie
    assert state(clip_id) == ("accepted", True, True, 5, "pending")
    label(e, project, "happy")  # 3/5 = 0.6 < 0.7, but 5 is the maximum: the majority stands
    status, is_open, _, _, consensus = state(clip_id)
    assert (status, is_open, consensus) == ("labelled", False, "agreed")
    assert ClipConsensus.objects.get(clip_id=clip_id).emotion.code == "happy"


def test_the_maximum_is_never_below_k_nor_above_15(project):
    config = services.config_for(project)
    config.labels_per_clip, config.max_labels_per_clip = 4, 3
    with pytest.raises(ValidationError) as below:
        config.full_clean()
    assert "max_labels_per_clip" in below.value.message_dict
    config.max_labels_per_clip = 16
    with pytest.raises(ValidationError) as above:
        config.full_clean()
    assert "max_labels_per_clip" in above.value.message_dict
    config.escalation_min_agreement = 1.5
    config.max_labels_per_clip = 6
    with pytest.raises(ValidationError) as share:
        config.full_clean()
    assert "escalation_min_agreement" in share.value.message_dict


# --- the queue -----------------------------------------------------------------------------------


def fewest_labels_first(entries, **_):
    """A policy that would serve an escalated clip (most labels) last."""
    return entries.order_by("n_done", "clip_id")


@pytest.mark.django_db
@pytest.mark.parametrize("policy", ["breadth_first", "fifo", "rarest_predicted_first", "fewest_labels_first"])
def test_an_escalated_clip_is_handed_out_before_fresh_clips_under_every_policy(
    recording, annotators, project, policy
):
    policies.register_policy("fewest_labels_first", fewest_labels_first)
    assert policy in policies.available_policies()
    configure(project, queue_policy=policy)
    fresh = clone_clips(recording, 2)
    (late,) = clone_clips(recording, 1, start=2000.0)  # the highest id: last under fifo
    assert late > max(fresh)
    a, b, c, d = annotators("a", "b", "c", "d")
    for user, emotion in ((a, "happy"), (b, "sad"), (c, "angry")):
        # Each gives the fresh clips back (never served to them again) and labels `late`.
        while (
            clip_id := services.assignment_next(user=user, project=project, kind=L).assignment.clip_id
        ) != late:
            services.assignment_skip(user=user, clip_id=clip_id, kind=L)
        services.annotation_submit(user=user, clip_id=late, emotion=emotion, gender="male")
    assert state(late)[2] is True

    assert services.assignment_next(user=d, project=project, kind=L).assignment.clip_id == late


@pytest.mark.django_db
def test_the_hand_out_says_nothing_of_an_escalation(recording, annotators, project):
    (clip_id,) = clone_clips(recording, 1)
    (fresh,) = clone_clips(recording, 1, start=2000.0)
    a, b, c, d, e = annotators("a", "b", "c", "d", "e")
    first = api(e).get("/api/annotation/next/").json()  # `fresh` or `clip_id`, neither escalated
    services.assignment_skip(user=e, clip_id=first["clip"]["id"], kind=L)
    for user, emotion in ((a, "happy"), (b, "sad"), (c, "angry")):
        label(user, project, emotion)
    assert PoolEntry.objects.get(kind=L, clip_id=clip_id).escalated

    body = api(d).get("/api/annotation/next/")
    assert body.status_code == 200
    data = body.json()
    assert data["clip"]["id"] == clip_id
    assert set(data) == set(first) and set(data["clip"]) == set(first["clip"])
    text = body.content.decode().lower()
    for hint in ("escalat", "wanted", "pending", "happy", "angry", "n_done"):
        assert hint not in text, hint


# --- changed settings ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_changed_settings_reopen_or_close_clips_consistently(recording, annotators, project, curator):
    configure(project, escalation="off")
    tie, agreed = clone_clips(recording, 2)
    a, b, c, d = annotators("a", "b", "c", "d")
    for user, emotions in ((a, ("happy", "sad")), (b, ("sad", "sad")), (c, ("angry", "sad"))):
        for emotion in emotions:
            label(user, project, emotion)
    assert state(tie) == ("labelled", False, False, 3, "needs_adjudication")
    assert state(agreed)[0] == "labelled"

    # Escalation on: the tie reopens (pending, first in the queue); the agreed clip stays.
    configure(project, escalation="no_majority")
    assert services.pool_reevaluate(project=project) == {"reopened": 1, "closed": 0, "entries": 2}
    assert state(tie) == ("accepted", True, True, 4, "pending")
    assert not adjudication_queue(project=project, curator=curator).exists()
    assert state(agreed) == ("labelled", False, False, 3, "agreed")

    # The maximum down to K: the tie closes again and goes to a curator.
    configure(project, max_labels_per_clip=3)
    result = consensus_recompute(project=project)  # re-evaluates the pool first
    assert result["pool"]["closed"] == 1 and result["needs_adjudication"] == 1
    assert state(tie)[0::4] == ("labelled", "needs_adjudication")
    assert state(tie)[1] is False

    # K up to 4: both clips want a fourth label; d gets the tie (escalated) first.
    configure(project, labels_per_clip=4, max_labels_per_clip=5)
    assert services.pool_reevaluate(project=project)["reopened"] == 2
    assert state(agreed) == ("accepted", True, False, 4, "pending")
    assert label(d, project, "happy") == tie
    # A curator's decision is never undone.
    ClipConsensus.objects.filter(clip_id=agreed).update(status=ClipConsensus.Status.ADJUDICATED)
    configure(project, labels_per_clip=5)
    services.pool_reevaluate(project=project)
    assert ClipConsensus.objects.get(clip_id=agreed).status == "adjudicated"


@pytest.mark.django_db
def test_reevaluation_and_figures_stay_in_their_project(
    recording, annotators, project, curator, tmp_path, data_dir
):
    other = Project.objects.create(name="Other", slug="other")
    other_source = corpus_services.source_get_or_create(project=other, title="Elsewhere")
    samples, rate = mf.ravdess_speech(data_dir, n=1, offset=20)
    with transaction.atomic():
        elsewhere = corpus_services.recording_ingest(
            source=other_source, path=mf.write_wav(tmp_path / "b.wav", samples, rate), segment=False
        ).recording
        corpus_services.clip_create_whole(recording=elsewhere, status=Clip.Status.AWAITING_VALIDATION)
    (clip_id,) = clone_clips(recording, 1)
    (their_clip,) = clone_clips(elsewhere, 1)
    theirs = Clip.objects.get(pk=their_clip)
    a, b, c = annotators("a", "b", "c")
    x, y, z = annotators("x", "y", "z", into=other)
    configure(other, escalation="off")
    for user, emotion in ((a, "happy"), (b, "sad"), (c, "angry")):
        assert label(user, project, emotion) == clip_id
    for user, emotion in ((x, "happy"), (y, "sad"), (z, "angry")):
        assert label(user, other, emotion) == theirs.pk
    assert state(theirs.pk) == ("labelled", False, False, 3, "needs_adjudication")

    configure(project, max_labels_per_clip=3)
    assert services.pool_reevaluate(project=project)["entries"] == 1
    assert state(theirs.pk) == ("labelled", False, False, 3, "needs_adjudication")
    assert selectors.project_progress(project=project)["pool"]["escalated"] == 1
    assert selectors.project_progress(project=other)["pool"]["escalated"] == 0


# --- figures -------------------------------------------------------------------------------------


def test_fleiss_uses_each_clips_first_k_labels_and_krippendorff_all_of_them():
    # Three clips, K = 3; the third was escalated to 5 labels (categories 0-2, raters 0-4).
    rows = [
        (0, 0, 0), (0, 1, 0), (0, 2, 0),
        (1, 0, 1), (1, 1, 1), (1, 2, 0),
        (2, 0, 0), (2, 1, 1), (2, 2, 2), (2, 3, 1), (2, 4, 1),
    ]  # fmt: skip
    votes, _, _ = agreement.Votes.from_triples(rows, [0, 1, 2])
    first = agreement.first_votes(votes, 3)
    assert first.votes_per_item().tolist() == [3, 3, 3]
    assert first.counts()[2].tolist() == [1, 1, 1]  # raters 0-2, not the later 3 and 4

    figures = agreement.fleiss_first_k(votes, 3)
    table = np.array([[3, 0, 0], [1, 2, 0], [1, 1, 1]])
    assert figures["fleiss_kappa"] == pytest.approx(sm_fleiss_kappa(table, method="fleiss"))
    assert (figures["fleiss_k"], figures["fleiss_n_items"]) == (3, 3)
    # Without first_votes, Fleiss would have dropped the escalated clip (5 labels, not 3).
    assert agreement.fleiss_table(votes, 3)[0].shape[0] == 2
    reliability = np.full((5, 3), np.nan)
    for item, rater, value in rows:
        reliability[rater, item] = value
    expected = krippendorff.alpha(reliability_data=reliability, level_of_measurement="nominal")
    assert agreement.krippendorff_alpha(votes) == pytest.approx(expected)


@pytest.mark.django_db
def test_agreement_and_progress_report_escalations(recording, annotators, project, curator):
    escalated, plain = clone_clips(recording, 2)
    a, b, c, d = annotators("a", "b", "c", "d")
    for user, emotions in ((a, ("happy", "sad")), (b, ("sad", "sad")), (c, ("angry", "sad"))):
        for emotion in emotions:
            label(user, project, emotion)
    label(d, project, "happy")  # the escalated clip's fourth label: 2/1/1

    body = api(curator).get("/api/agreement/").json()
    assert body["n_votes"] == 7 and body["votes_per_item"] == [0, 0, 0, 1, 1]
    assert (body["fleiss_k"], body["fleiss_n_items"]) == (3, 2)
    assert "first 3 labels" in body["fleiss_note"] and body["escalated_clips"] == 1
    pool = api(curator).get("/api/annotation/progress/").json()["pool"]
    assert (pool["escalated"], pool["escalating"]) == (1, 0)
    assert pool["labels_per_clip"] == {"3": 1, "4": 1} and pool["mean_labels_per_clip"] == 3.5
    assert api(curator).get("/api/annotation/schema/").json()["config"]["max_labels_per_clip"] == 5


@pytest.mark.django_db
def test_a_label_in_hand_when_the_settings_closed_the_clip_never_undoes_a_curator(
    recording, annotators, project, curator
):
    (clip_id,) = clone_clips(recording, 1)
    a, b, c, d = annotators("a", "b", "c", "d")
    for user, emotion in ((a, "happy"), (b, "sad"), (c, "angry")):
        label(user, project, emotion)
    assert services.assignment_next(user=d, project=project, kind=L).assignment.clip_id == clip_id
    configure(project, max_labels_per_clip=3)
    assert services.pool_reevaluate(project=project)["closed"] == 1  # d still holds it
    adjudicate(curator=curator, clip_id=clip_id, decision="label", emotion="sad")

    services.annotation_submit(user=d, clip_id=clip_id, emotion="happy", gender="male")
    consensus = ClipConsensus.objects.get(clip_id=clip_id)
    assert (consensus.status, consensus.emotion.code) == ("adjudicated", "sad")
    assert PoolEntry.objects.get(kind=L, clip_id=clip_id).n_done == 4
    assert Clip.objects.get(pk=clip_id).status == "labelled"


@pytest.mark.django_db
def test_the_admin_edits_the_settings_and_re_evaluates_the_pool(
    recording, annotators, project, django_user_model, client
):
    configure(project, escalation="off")
    (clip_id,) = clone_clips(recording, 1)
    for user, emotion in zip(annotators("a", "b", "c"), ("happy", "sad", "angry"), strict=True):
        label(user, project, emotion)
    assert state(clip_id)[0] == "labelled"
    admin = django_user_model.objects.create_superuser(username="root", password="x")
    client.force_login(admin)
    config = services.config_for(project)
    url = f"/admin/annotation/annotationconfig/{config.pk}/change/"
    # Every field of the settings as saved (so fields added later need no edit here), then ours.
    form = {k: v for k, v in model_to_dict(config).items() if k != "id"} | {
        "escalation": "no_majority",
        "escalation_min_agreement": 0.67,
        "max_labels_per_clip": 2,
    }
    refused = client.post(url, form)
    assert refused.status_code == 200 and "cannot be below K" in refused.content.decode()
    assert services.config_for(project).escalation == "off"  # nothing saved

    saved = client.post(url, {**form, "max_labels_per_clip": 5}, follow=True)
    assert saved.status_code == 200
    assert "1 labelled clip(s) reopened" in saved.content.decode()
    assert state(clip_id) == ("accepted", True, True, 4, "pending")
