"""Two projects built through the real services, and a cast of users, for the access and fuzz tests.

Project A ("alpha") and project B ("bravo") each hold real RAVDESS speech (different actors, so
nothing is shared): gold-labelled clips imported with `corpus_import`, a broadcast-like recording
ingested with `recording_ingest` and cut into clips, a queued segmentation run, a release built by
`release_build`, a queued export, a classical model trained through `run_execute`, a queued run,
an active pre-labeller, a queued pre-label job and a queued evaluation of the model. Nothing is
enqueued: the tests run in one transaction, so `on_commit` never fires.

Every name and title of project B carries MARKER_B, so that a response to one of A's users that
mentions it has leaked B's data (and MARKER_A the other way round).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from django.contrib.auth.models import Group
from django.db import transaction
from django.utils import timezone

from annotation import services as annotation_services
from annotation.guideline import ensure_guideline
from annotation.models import Assignment, ClipConsensus, GoldCheck, LabelOption, QuotaTarget
from annotation.services import LABELLING, VALIDATION
from annotation.tests.factories import clone_clips
from core import roles
from core.models import Project
from corpus import services as corpus_services
from corpus.models import Clip, Recording, SeriesSpeaker, SpeakerCluster
from corpus.tests import media_files as mf
from inference import services as inference_services
from releases.build import ReleaseParams, release_build
from releases.export import release_export_create
from releases.importers import corpus_import, label_mappings_ensure
from training import services as training_services
from training.models import ModelVersion

MARKER_A = "alphamarker"
MARKER_B = "bravomarker"
# The people of project A: one per role, and a member who holds no role.
ROLE_USERS = ("annotator", "validator", "curator", "ml_staff")
# Hashing a password the default way takes most of a second; these tests sign in many times.
FAST_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@dataclass
class Tenant:
    """One project's objects (ids by kind, as a URL or a body names them)."""

    project: Project
    marker: str
    ids: dict[str, int] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)  # storage names: a clip WAV, a manifest


def _user(django_user_model, username: str, groups: tuple[str, ...], project: Project):
    user = django_user_model.objects.create_user(username=username, password="pw-" + username)
    user.groups.set([Group.objects.get_or_create(name=name)[0] for name in groups])
    project.members.add(user)
    return user


def _tenant(*, slug: str, marker: str, actors: range, data_dir: Path, tmp_path: Path, owner) -> Tenant:
    """Build one project's objects through the services (see the module docstring)."""
    project = Project.objects.create(name=f"{slug} {marker}", slug=slug)
    project.members.add(owner)
    t = Tenant(project=project, marker=marker)
    folder = tmp_path / slug
    folder.mkdir()
    # One neutral (01) and one angry (05) utterance per actor: two labels, speakers to split by.
    for actor in actors:
        for emotion in ("01", "05"):
            f = data_dir / "ravdess" / f"03-01-{emotion}-01-01-01-{actor:02d}.flac"
            (folder / f.name).symlink_to(f)
    report = corpus_import(project=project, fmt="ravdess", root=folder, source_title=f"RAVDESS {marker}")
    assert report.ok and report.imported == 2 * len(actors), report

    # A broadcast-like recording (three joined utterances): its whole-file clip awaits validation,
    # three clips cloned over the same audio wait in the labelling pool.
    source = corpus_services.source_get_or_create(
        project=project, title=f"Broadcast {marker}", created_by=owner
    )
    samples, rate = mf.ravdess_speech(data_dir, n=3, offset=actors.start * 20)
    wav = mf.write_wav(tmp_path / f"{slug}-{marker}.wav", samples, rate)
    with transaction.atomic():
        recording = corpus_services.recording_ingest(
            source=source, path=wav, uploaded_by=owner, segment=False
        ).recording
        whole = corpus_services.clip_create_whole(recording=recording, status=Clip.Status.AWAITING_VALIDATION)
    labelling = clone_clips(recording, 3, status=Clip.Status.ACCEPTED)
    run = corpus_services.segmentation_run_create(recording=recording, created_by=owner, enqueue=False)

    release = release_build(
        project=project,
        params=ReleaseParams(
            name=f"rel-{marker}", label_set=["angry", "neutral"], group_by="speaker", split="70/15/15", seed=1
        ),
        created_by=owner,
    )
    export = release_export_create(release=release, created_by=owner, enqueue=False)
    trained = training_services.run_create(
        release=release, family="classical", device="cpu", name=f"trained-{marker}", enqueue=False
    )
    training_services.run_execute(run_id=trained.pk)
    model_version = ModelVersion.objects.get(run=trained)
    queued = training_services.run_create(
        release=release, family="classical", device="cpu", name=f"queued-{marker}", enqueue=False
    )
    inference_services.prelabeller_activate(project=project, model_version=model_version, user=owner)
    job = inference_services.prelabel_job_create(project=project, user=owner, enqueue=False)
    # The model evaluated on its own release's test split (queued: its figures are not the point).
    evaluation = training_services.evaluation_create(
        model_version=model_version, release=release, split="test", created_by=owner, enqueue=False
    )

    # The speaker step's rows (built here, not by a segmentation: its result is not the point):
    # a named voice with two clusters of the recording, and a second voice of the same series.
    unit = [1.0] + [0.0] * 255
    voice = SeriesSpeaker.objects.create(
        project=project, series=source.title, name=f"Voice {marker}", centroid=unit
    )
    other_voice = SeriesSpeaker.objects.create(project=project, series=source.title, centroid=unit[::-1])
    cluster = SpeakerCluster.objects.create(
        recording=recording,
        index=1,
        label=f"{marker}-spk1",
        centroid=unit,
        clip_count=1,
        series_speaker=voice,
    )
    SpeakerCluster.objects.create(
        recording=recording,
        index=2,
        label=f"{marker}-spk2",
        centroid=unit,
        clip_count=1,
        series_speaker=voice,
    )

    # Two imported gold clips: one a curator may mark as a hidden check, one already marked.
    gold_clip, check_clip = (
        ClipConsensus.objects.filter(clip__recording__source__project=project, status="gold")
        .order_by("clip_id")
        .values_list("clip_id", flat=True)[:2]
    )
    GoldCheck.objects.create(
        project=project, clip_id=check_clip, emotion=ClipConsensus.objects.get(clip_id=check_clip).emotion
    )

    # A quota cell (angry, any gender) of the quota-driven queue.
    quota = QuotaTarget.objects.create(
        project=project, emotion=LabelOption.objects.get(kind="emotion", code="angry"), target=5
    )

    t.ids = {
        "quota_target": quota.pk,
        "recording": recording.pk,
        "gold_clip": gold_clip,
        "check_clip": check_clip,
        "source": source.pk,
        "clip": labelling[0],
        "validation_clip": whole.pk,
        "imported_recording": Recording.objects.filter(source__project=project, source__kind="corpus")
        .order_by("pk")
        .values_list("pk", flat=True)
        .first(),
        "segmentation_run": run.pk,
        "release": release.pk,
        "export": export.pk,
        "run": queued.pk,
        "trained_run": trained.pk,
        "model_version": model_version.pk,
        "prelabel_job": job.pk,
        "evaluation": evaluation.pk,
        "series_speaker": voice.pk,
        "other_series_speaker": other_voice.pk,
        "speaker_cluster": cluster.pk,
    }
    t.files = {
        "clip_audio": Clip.objects.get(pk=labelling[0]).audio.name,
        "recording_audio": recording.normalised.name,
        "manifest": release.manifest.name,
    }
    return t


@dataclass
class World:
    a: Tenant
    b: Tenant
    users: dict  # "norole", the four roles (members of A), "outsider" (every role, member of B)


def build_world(*, django_user_model, data_dir: Path, tmp_path: Path) -> World:
    """Projects A and B, A's cast (one user per role, a member with no role), B's outsider.

    The annotator of A holds A's `clip` (a live labelling assignment) and the validator holds
    A's `validation_clip`, as they would after asking for their next clip.
    """
    ensure_guideline()
    label_mappings_ensure()
    owner_a = django_user_model.objects.create_user(username=f"owner-{MARKER_A}", password="x")
    owner_b = django_user_model.objects.create_user(username=f"owner-{MARKER_B}", password="x")
    common = {"data_dir": data_dir, "tmp_path": tmp_path}
    a = _tenant(slug="alpha", marker=MARKER_A, actors=range(1, 7), owner=owner_a, **common)
    b = _tenant(slug="bravo", marker=MARKER_B, actors=range(7, 13), owner=owner_b, **common)
    users = {"norole": _user(django_user_model, "norole", (), a.project)}
    for name in ROLE_USERS:
        users[name] = _user(django_user_model, name, (name,), a.project)
    users["outsider"] = _user(django_user_model, "outsider", roles.ALL_ROLES, b.project)
    # A person with a role in each project (the members API takes roles from them).
    a.ids["member"] = users["annotator"].pk
    b.ids["member"] = users["outsider"].pk
    # The annotator and the validator each hold one clip of A, as after "next clip", served a
    # minute ago (long enough to have heard it: answers sooner are refused as too soon).
    for name, kind, key in (("annotator", LABELLING, "clip"), ("validator", VALIDATION, "validation_clip")):
        held = annotation_services.assignment_next(user=users[name], project=a.project, kind=kind)
        a.ids[key] = held.assignment.clip_id  # the labelling pool hands out any of its three clips
        Assignment.objects.filter(pk=held.assignment.pk).update(
            served_at=timezone.now() - timedelta(minutes=1)
        )
    a.files["clip_audio"] = Clip.objects.get(pk=a.ids["clip"]).audio.name
    return World(a=a, b=b, users=users)


def short_wav(data_dir: Path, tmp_path: Path) -> bytes:
    """One second of real speech (from a RAVDESS file neither project holds), as WAV bytes."""
    samples, rate = mf.ravdess_speech(data_dir, n=1, offset=700)
    return mf.write_wav(tmp_path / "short.wav", samples[rate : 2 * rate], rate).read_bytes()
