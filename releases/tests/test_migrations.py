"""An existing database migrates through the refactor's state-only moves without losing a row.

`core.Project` moved from `corpus`, and GoldLabel, LabelMapping, Release, ReleaseItem and
ReleaseExport from `annotation` to `releases`; the tables kept their names. This test builds a
database as it was before the move (corpus 0003, annotation 0004, training 0001, inference 0001;
core and releases unapplied), fills it through the historical models of that time, migrates every
app to its latest migration, and reads everything back through the new historical models.

django-test-migrations' `migrator` drops every table and replays the migrations, so the test is
transactional (its fixture asks for `transactional_db`) and the migrator puts the database back
at the latest migrations afterwards. It mutes the pre/post_migrate signals while migrating, so no
content types are created on the way: the test makes the old ones itself, to see them renamed.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.recorder import MigrationRecorder

pytestmark = pytest.mark.django_db(transaction=True)

# The last migrations before the move, per app; None: none of the app's migrations.
BEFORE_MOVE = [
    ("core", None),
    ("releases", None),
    ("corpus", "0003_clip_speaker"),
    ("annotation", "0004_default_label_mappings"),
    ("training", "0001_initial"),
    ("inference", "0001_initial"),
]

# (old app, model) -> new app: the models whose owner changed.
MOVED = {
    ("corpus", "project"): "core",
    ("annotation", "goldlabel"): "releases",
    ("annotation", "labelmapping"): "releases",
    ("annotation", "release"): "releases",
    ("annotation", "releaseitem"): "releases",
    ("annotation", "releaseexport"): "releases",
}
# Models that stayed where they were but point at moved ones.
STAYED = [
    ("corpus", "source"),
    ("corpus", "recording"),
    ("corpus", "segmentationrun"),
    ("corpus", "clip"),
    ("annotation", "labeloption"),
    ("training", "trainingrun"),
    ("training", "modelversion"),
    ("inference", "prelabeller"),
    ("inference", "prelabeljob"),
]

WHEN = dt.datetime(2026, 11, 20, 9, 30, tzinfo=dt.UTC)


def _rows(apps, app_label: str, model_name: str) -> list[dict]:
    """Every row of the model's table, column by column (FKs as their ids), by primary key."""
    return list(apps.get_model(app_label, model_name).objects.order_by("pk").values())


def _as_before(rows: list[dict], before: list[dict]) -> list[dict]:
    """`rows` cut to the columns the old rows had: a column added since (holding its default,
    e.g. the job rows' `attempts`) is not a change."""
    columns = set(before[0]) if before else set()
    return [{k: v for k, v in row.items() if k in columns} for row in rows]


def _members(apps, app_label: str) -> list[tuple[int, int]]:
    through = apps.get_model(app_label, "project").members.through
    return sorted(through.objects.values_list("project_id", "user_id"))


def _applied() -> set[tuple[str, str]]:
    return set(MigrationRecorder(connection).applied_migrations())


def _fill(apps) -> dict:
    """A project with members, its corpus, a release with items, an export, a gold label, and a
    training run, a model and pre-labelling on that release: through the historical models."""
    User = apps.get_model("auth", "User")
    Project = apps.get_model("corpus", "Project")
    Source = apps.get_model("corpus", "Source")
    Recording = apps.get_model("corpus", "Recording")
    SegmentationRun = apps.get_model("corpus", "SegmentationRun")
    Clip = apps.get_model("corpus", "Clip")
    LabelOption = apps.get_model("annotation", "LabelOption")
    GoldLabel = apps.get_model("annotation", "GoldLabel")
    Release = apps.get_model("annotation", "Release")
    ReleaseItem = apps.get_model("annotation", "ReleaseItem")
    ReleaseExport = apps.get_model("annotation", "ReleaseExport")
    TrainingRun = apps.get_model("training", "TrainingRun")
    ModelVersion = apps.get_model("training", "ModelVersion")
    Prelabeller = apps.get_model("inference", "Prelabeller")
    PrelabelJob = apps.get_model("inference", "PrelabelJob")
    ContentType = apps.get_model("contenttypes", "ContentType")
    Permission = apps.get_model("auth", "Permission")

    curator = User.objects.create(username="mig-curator", password="!")
    annotator = User.objects.create(username="mig-annotator", password="!")
    User.objects.create(username="mig-outsider", password="!")  # not a member
    project = Project.objects.create(
        name="Migrated project", slug="migrated", description="Rows that must survive the move."
    )
    project.members.add(curator, annotator)

    source = Source.objects.create(
        project=project, title="Nsibti Laaziza", kind="series", episode="S01E02", created_by=curator
    )
    recording = Recording.objects.create(
        source=source,
        original="recordings/original/2026/11/nsibti-s01e02.mp4",
        original_name="nsibti-s01e02.mp4",
        size_bytes=123_456,
        sha256="a" * 64,
        container="mov,mp4",
        codec="aac",
        original_sample_rate=48_000,
        original_channels=2,
        has_video=True,
        normalised="recordings/normalised/2026/11/nsibti-s01e02.wav",
        duration_s=1320.5,
        status="segmented",
        uploaded_by=curator,
    )
    seg_run = SegmentationRun.objects.create(
        recording=recording, status="succeeded", progress=1.0, n_regions=2, finished_at=WHEN
    )
    clips = [
        Clip.objects.create(
            recording=recording,
            segmentation_run=seg_run,
            start_s=start,
            end_s=start + 2.5,
            duration_s=2.5,
            audio=f"clips/nsibti-{i}.wav",
            level_dbfs=-21.5,
            speech_ratio=0.8,
            clipping_ratio=0.0,
            snr_db=18.25,
            status="labelled",
            speaker=f"speaker-{i}",
        )
        for i, start in enumerate((10.0, 20.0))
    ]
    # The guideline's data migration seeded the label options; made here if it ever stops doing so.
    angry, _ = LabelOption.objects.get_or_create(
        kind="emotion", code="angry", defaults={"name": "Angry", "tier": "primary"}
    )
    female, _ = LabelOption.objects.get_or_create(kind="gender", code="female", defaults={"name": "Female"})
    gold = GoldLabel.objects.create(
        clip=clips[0], corpus="ravdess", original_label="angry", emotion=angry, gender=female
    )

    release = Release.objects.create(
        project=project,
        name="derja-emotions",
        version=3,
        status="built",
        params={"labels": ["angry", "neutral"], "seed": 7, "split": [0.8, 0.1, 0.1]},
        manifest="releases/derja-emotions-v3.json",
        checksum="b" * 64,
        counts={"train": {"angry": {"female": 1}}, "test": {"angry": {"male": 1}}},
        platform_version="0.1.0",
        n_items=2,
        created_by=curator,
    )
    items = [
        ReleaseItem.objects.create(
            release=release,
            clip=clip,
            split=split,
            label="angry",
            gender="female",
            group=f"speaker-{i}",
            copy_index=0,
            file_name=f"{split}/angry/{clip.pk}.wav",
        )
        for i, (clip, split) in enumerate(zip(clips, ("train", "test"), strict=True))
    ]
    export = ReleaseExport.objects.create(
        release=release,
        status="succeeded",
        progress=1.0,
        archive="exports/derja-emotions-v3.zip",
        size_bytes=987_654,
        started_at=WHEN,
        finished_at=WHEN + dt.timedelta(minutes=2),
        created_by=curator,
    )
    run = TrainingRun.objects.create(
        project=project,
        release=release,
        name="lstm baseline",
        family="mfcc_lstm",
        hparams={"epochs": 3},
        device="cpu",
        precision="fp32",
        status="succeeded",
        progress=1.0,
        epoch=3,
        step=30,
        total_steps=30,
        history=[{"epoch": 1, "val_ua": 0.5}],
        resolved_hparams={"epochs": 3, "lr": 0.001},
        test_metrics={"ua": 0.61},
        used_device="cpu",
        started_at=WHEN,
        finished_at=WHEN + dt.timedelta(hours=1),
        created_by=curator,
    )
    model_version = ModelVersion.objects.create(
        project=project,
        release=release,
        run=run,
        family="mfcc_lstm",
        name="lstm baseline v1",
        path="runs/1/model",
        labels=["angry", "neutral"],
        config={"n_mfcc": 40},
        metrics={"ua": 0.61},
        platform_version="0.1.0",
    )
    prelabeller = Prelabeller.objects.create(
        project=project, model_version=model_version, show_to_annotators=True, activated_by=curator
    )
    prelabel_job = PrelabelJob.objects.create(
        project=project, model_version=model_version, status="succeeded", n_total=2, n_done=2
    )

    # The content types as `migrate` made them before the move (muted here), one left unmoved,
    # and a permission on a moved one (it must stay attached).
    content_types = {
        (app, model): ContentType.objects.get_or_create(app_label=app, model=model)[0].pk
        for app, model in [*MOVED, ("corpus", "clip")]
    }
    permission = Permission.objects.create(
        name="Can view release",
        codename="view_release",
        content_type_id=content_types[("annotation", "release")],
    )
    return {
        "project": project.pk,
        "members": {curator.pk, annotator.pk},
        "source": source.pk,
        "recording": recording.pk,
        "clips": [c.pk for c in clips],
        "gold": gold.pk,
        "angry": angry.pk,
        "female": female.pk,
        "release": release.pk,
        "items": [i.pk for i in items],
        "export": export.pk,
        "run": run.pk,
        "model_version": model_version.pk,
        "prelabeller": prelabeller.pk,
        "prelabel_job": prelabel_job.pk,
        "content_types": content_types,
        "permission": permission.pk,
    }


def test_existing_database_migrates_through_the_moves_without_losing_a_row(migrator):
    # The migrator replays the project's flattened plan up to the first target; every migration
    # before core 0001 (the first of the move) is all of the old state but inference 0001, which
    # the second, forward-only, step adds. (Truncating at inference 0001 instead would take in the
    # move's own migrations, which come before it in the flattened plan.)
    migrator.apply_initial_migration([("core", None)])
    old_state = migrator.apply_tested_migration(BEFORE_MOVE)
    applied = _applied()
    assert not {m for m in applied if m[0] in ("core", "releases")}, "the move's apps must start empty"
    for app, name in BEFORE_MOVE:
        if name is not None:
            assert (app, name) in applied
            later = [m for m in applied if m[0] == app and m[1] > name]
            assert not later, f"{app} is past {name}: {later}"

    ids = _fill(old_state.apps)
    old = {key: _rows(old_state.apps, *key) for key in [*MOVED, *STAYED]}
    old_members = _members(old_state.apps, "corpus")
    old_content_types = _rows(old_state.apps, "contenttypes", "contenttype")
    old_permissions = _rows(old_state.apps, "auth", "permission")
    assert (ids["project"], min(ids["members"])) in old_members

    # Forward to the latest migration of every app (whatever is the latest when this runs).
    latest = MigrationLoader(connection, ignore_no_migrations=True).graph.leaf_nodes()
    new_state = migrator.apply_tested_migration(latest)
    assert set(latest) <= _applied()
    apps = new_state.apps

    # Every row, same ids and same values, now under its new owner.
    for (old_app, model), new_app in MOVED.items():
        rows = _as_before(_rows(apps, new_app, model), old[(old_app, model)])
        assert rows == old[(old_app, model)], f"{old_app}.{model} -> {new_app}.{model} changed"
        assert rows, f"{new_app}.{model}: the test made no row"
    for app, model in STAYED:
        assert _as_before(_rows(apps, app, model), old[(app, model)]) == old[(app, model)], (
            f"{app}.{model} changed"
        )
    assert _members(apps, "core") == old_members

    # The foreign keys resolve, to the new models.
    Project = apps.get_model("core", "Project")
    Release = apps.get_model("releases", "Release")
    project = Project.objects.get(pk=ids["project"])
    assert set(project.members.values_list("pk", flat=True)) == ids["members"]
    release = Release.objects.get(pk=ids["release"])
    assert release.project == project
    assert release.project._meta.label_lower == "core.project"
    assert release.created_by.username == "mig-curator"
    assert sorted(release.items.values_list("pk", flat=True)) == sorted(ids["items"])
    assert [item.clip_id for item in release.items.order_by("pk")] == ids["clips"]
    assert list(release.exports.values_list("pk", flat=True)) == [ids["export"]]
    assert list(project.releases.values_list("pk", flat=True)) == [ids["release"]]
    assert apps.get_model("releases", "ReleaseExport").objects.get(pk=ids["export"]).release == release
    gold = apps.get_model("releases", "GoldLabel").objects.get(pk=ids["gold"])
    assert (gold.clip_id, gold.emotion.pk, gold.gender.pk) == (ids["clips"][0], ids["angry"], ids["female"])
    assert apps.get_model("corpus", "Source").objects.get(pk=ids["source"]).project == project
    run = apps.get_model("training", "TrainingRun").objects.get(pk=ids["run"])
    assert run.release == release
    assert run.release._meta.label_lower == "releases.release"
    assert run.project == project
    assert list(release.training_runs.values_list("pk", flat=True)) == [ids["run"]]
    model_version = apps.get_model("training", "ModelVersion").objects.get(pk=ids["model_version"])
    assert (model_version.release, model_version.project, model_version.run) == (release, project, run)
    assert apps.get_model("inference", "Prelabeller").objects.get(pk=ids["prelabeller"]).project == project
    assert apps.get_model("inference", "PrelabelJob").objects.get(pk=ids["prelabel_job"]).project == project

    # The content types were renamed in place (same ids), so permissions stay attached.
    ContentType = apps.get_model("contenttypes", "ContentType")
    for (old_app, model), new_app in MOVED.items():
        ct = ContentType.objects.get(app_label=new_app, model=model)
        assert ct.pk == ids["content_types"][(old_app, model)], f"{old_app}.{model}"
        assert not ContentType.objects.filter(app_label=old_app, model=model).exists()
    assert (
        ContentType.objects.get(app_label="corpus", model="clip").pk
        == ids["content_types"][("corpus", "clip")]
    )
    assert len(_rows(apps, "contenttypes", "contenttype")) == len(old_content_types)
    permission = apps.get_model("auth", "Permission").objects.get(pk=ids["permission"])
    assert (permission.content_type.app_label, permission.content_type.model) == ("releases", "release")
    assert _rows(apps, "auth", "permission") == old_permissions
