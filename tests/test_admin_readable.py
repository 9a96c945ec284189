"""The admin as people read it: numbers formatted (percents with one decimal, probabilities to 3
places, durations, sizes), JSON shown as tables or indented blocks, every queued job linked from
the message that announces it, model names as written, and plurals that are English."""

from __future__ import annotations

import re

import pytest
from django.apps import apps
from django.contrib import admin
from django.test import Client
from django.urls import reverse

from annotation import services as annotation_services
from annotation.guideline import ensure_guideline
from annotation.models import Annotation, LabelOption
from core import display
from corpus import services as corpus_services
from corpus.models import Recording, SegmentationRun
from inference.models import Prediction, PrelabelJob, Prelabeller
from releases.build import ReleaseParams, release_build
from releases.export import release_export_create
from releases.importers import corpus_import, label_mappings_ensure
from releases.models import ReleaseExport
from training import services as training_services
from training.models import ModelVersion, TrainingRun

pytestmark = pytest.mark.django_db

UGLY = 0.35237439779766  # a progress as the job row stores it
RAW_FLOAT = re.compile(r"\d\.\d{7,}")  # what no admin page may show


def test_numbers_read_as_people_read_them():
    assert display.percent(UGLY) == "35.2%"
    assert display.percent(1.0) == "100.0%" and display.percent(None) == "—"
    assert display.probability(0.8123456789012345) == "0.812"
    assert display.duration(3.52349) == "3.52 s"
    assert display.duration(125.3) == "2 min 05 s"
    assert display.duration(3725.0) == "1 h 02 min"
    assert display.milliseconds(4200) == "4.20 s"
    assert display.size(1572864) == "1.5 MiB" and display.size(512) == "512 B"
    assert display.number({"lr": 3e-05, "loss": 0.6931471805599453, "epochs": 20, "ok": True}) == {
        "lr": 3e-05,
        "loss": 0.693,
        "epochs": 20,
        "ok": True,
    }


# Every model of the platform and its plural, as the admin's index and headings print it. A new
# model fails here until someone writes its plural down.
PLURALS = {
    "core.project": "projects",
    "corpus.source": "sources",
    "corpus.recording": "recordings",
    "corpus.segmentationrun": "segmentation runs",
    "corpus.clip": "clips",
    "corpus.seriesspeaker": "series speakers",
    "corpus.speakercluster": "speaker clusters",
    "annotation.annotationconfig": "annotation configs",
    "annotation.rejectionreason": "rejection reasons",
    "annotation.labeloption": "label options",
    "annotation.assignment": "assignments",
    "annotation.poolentry": "pool entries",
    "annotation.validationvote": "validation votes",
    "annotation.clipdecision": "clip decisions",
    "annotation.annotation": "annotations",
    "annotation.flag": "flags",
    "annotation.clipconsensus": "clip consensuses",
    "annotation.adjudication": "adjudications",
    "annotation.quotatarget": "quota targets",
    "annotation.goldcheck": "gold checks",
    "annotation.checkanswer": "check answers",
    "annotation.annotatorstanding": "annotator standings",
    "releases.goldlabel": "gold labels",
    "releases.labelmapping": "label mappings",
    "releases.release": "releases",
    "releases.releaseitem": "release items",
    "releases.releaseexport": "release exports",
    "training.trainingrun": "training runs",
    "training.modelversion": "model versions",
    "training.evaluation": "evaluations",
    "inference.prelabeller": "prelabellers",
    "inference.prediction": "predictions",
    "inference.prelabeljob": "prelabel jobs",
}


def test_every_model_has_an_english_plural():
    ours = {
        m._meta.label_lower: str(m._meta.verbose_name_plural)
        for app in ("core", "corpus", "annotation", "releases", "training", "inference")
        for m in apps.get_app_config(app).get_models()
    }
    assert ours == PLURALS
    # Django's default (verbose_name + "s") gets these wrong: nothing may end like that.
    assert [p for p in ours.values() if re.search(r"(ss|[^aeiou]ys|[sxz]s|chs|shs)$", p)] == []


@pytest.fixture
def world(tmp_path, data_dir, project, django_user_model):
    """One row (at least) of every admin model, with the raw floats the jobs really store."""
    ensure_guideline()
    label_mappings_ensure()
    root = tmp_path / "ravdess"
    root.mkdir()
    for f in sorted((data_dir / "ravdess").glob("03-01-0[15]-01-01-0[12]-0[1-4].flac")):
        (root / f.name).symlink_to(f)
    corpus_import(project=project, fmt="ravdess", root=root)
    release = release_build(
        project=project,
        params=ReleaseParams(
            name="rel", label_set=["neutral", "angry"], group_by="speaker", split="50/25/25"
        ),
    )
    run = training_services.run_create(release=release, family="classical", enqueue=False)
    TrainingRun.objects.filter(pk=run.pk).update(
        progress=UGLY,
        epoch=2,
        hparams={"epochs": 20, "learning_rate": 3e-05},
        resolved_hparams={"epochs": 20, "learning_rate": 3e-05, "weight_decay": 0.0123456789},
        history=[
            {"epoch": 1, "train_loss": 0.6931471805599453, "val_ua": 0.5123456789},
            {"epoch": 2, "train_loss": 0.5012345678901234, "val_ua": 0.6234567891},
        ],
        test_metrics={"ua": 0.7123456789, "wa": 0.7012345678},
    )
    mv = ModelVersion.objects.create(
        project=project,
        run=run,
        release=release,
        family="classical",
        name="tuniser-Classical-v1",
        path=str(tmp_path / "model"),
        labels=["angry", "neutral"],
        config={"sample_rate": 16000},
        metrics={"test": {"ua": 0.7123456789}},
        platform_version="0.1.0",
    )
    clip = release.items.first().clip
    prediction = Prediction.objects.create(
        clip=clip,
        model_version=mv,
        probabilities={"angry": 0.8123456789012345, "neutral": 0.1876543210987655},
        top_label="angry",
        top_probability=0.8123456789012345,
        entropy=0.6961234567,
    )
    Prelabeller.objects.create(project=project, model_version=mv)
    annotation_services.config_for(project)
    labeller = django_user_model.objects.create_user("labeller")
    Annotation.objects.create(
        clip=clip,
        annotator=labeller,
        emotion=LabelOption.objects.get(kind="emotion", code="angry"),
        gender=LabelOption.objects.filter(kind="gender").first(),
        time_spent_ms=4217,
        shown_prediction={"label": "angry", "probabilities": {"angry": 0.8123456789012345}},
    )
    job = PrelabelJob.objects.create(project=project, model_version=mv, progress=UGLY, n_total=10, n_done=3)
    recording = Recording.objects.filter(source__project=project).first()
    seg = corpus_services.segmentation_run_create(recording=recording, enqueue=False)
    SegmentationRun.objects.filter(pk=seg.pk).update(progress=UGLY)
    export = release_export_create(release=release, enqueue=False)
    ReleaseExport.objects.filter(pk=export.pk).update(progress=UGLY, size_bytes=1572864)
    root_user = django_user_model.objects.create_superuser("root", password="pw-root")
    root_user.groups.clear()
    project.members.add(root_user)
    client = Client()
    assert client.post("/accounts/login/", {"username": "root", "password": "pw-root"}).status_code == 302
    return {
        "client": client,
        "run": run,
        "mv": mv,
        "prediction": prediction,
        "job": job,
        "seg": seg,
        "release": release,
        "recording": recording,
    }


def _admin_url(obj, view="change") -> str:
    meta = obj._meta
    return reverse(
        f"admin:{meta.app_label}_{meta.model_name}_{view}", args=[obj.pk] if view == "change" else []
    )


def test_no_admin_page_shows_a_raw_float(world):
    client = world["client"]
    checked, empty = 0, []
    for model in admin.site._registry:
        changelist = client.get(reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist"))
        assert changelist.status_code == 200, model
        assert RAW_FLOAT.findall(changelist.content.decode()) == [], model
        obj = model.objects.order_by("pk").first()
        if obj is None:
            empty.append(model._meta.label)
            continue
        page = client.get(_admin_url(obj))
        assert page.status_code == 200, model
        assert RAW_FLOAT.findall(page.content.decode()) == [], model
        checked += 1
    assert checked >= 20, empty


def test_job_rows_read_as_percents_tables_and_probabilities(world):
    client = world["client"]
    run = client.get(_admin_url(world["run"])).content.decode()
    assert "35.2%" in run and "(epoch 2)" in run
    # History: one table row per epoch, values to 3 places; hyper-parameters a table, not a dict.
    assert re.search(r"<th>epoch</th><th>train_loss</th><th>val_ua</th>", run)
    assert "<td>1</td><td>0.693</td><td>0.512</td>" in run and "<td>2</td><td>0.501</td><td>0.623</td>" in run
    assert "<tr><th>epochs</th><td>20</td></tr><tr><th>learning_rate</th><td>3e-05</td></tr>" in run
    assert "<tr><th>ua</th><td>0.712</td></tr>" in run
    assert "{&#x27;epochs&#x27;" not in run and '{"epochs"' not in run
    prediction = client.get(_admin_url(world["prediction"])).content.decode()
    assert "<tr><th>angry</th><td>0.812</td></tr><tr><th>neutral</th><td>0.188</td></tr>" in prediction
    assert "0.696 bits" in prediction
    jobs = client.get(reverse("admin:inference_prelabeljob_changelist")).content.decode()
    assert "35.2%" in jobs
    release = client.get(_admin_url(world["release"])).content.decode()
    assert "35.2%" in release and "1.5 MiB" in release  # the export inline
    assert "<pre" in release  # the counts, indented
    recording = client.get(_admin_url(world["recording"])).content.decode()
    assert re.search(r"<div class=\"readonly\">\d\.\d\d s</div>", recording)  # its duration
    assert re.search(r"<div class=\"readonly\">\d+\.\d KiB</div>", recording)  # its size
    annotation = client.get(_admin_url(Annotation.objects.get())).content.decode()
    assert "4.22 s" in annotation and "&quot;angry&quot;: 0.812" in annotation


def _action(client, model, action: str, pk: int):
    url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
    r = client.post(url, {"action": action, "_selected_action": [pk]}, follow=True)
    assert r.status_code == 200
    return [str(m) for m in r.context["messages"]], r.content.decode()


def test_every_queued_job_is_linked_from_its_message(world):
    client = world["client"]
    project = world["release"].project

    messages, html = _action(client, Prelabeller, "prelabel_existing", Prelabeller.objects.get().pk)
    job = PrelabelJob.objects.latest("pk")
    assert messages == [
        f'Pre-labelling of project {project} queued: <a href="{_admin_url(job)}">pre-label job #{job.pk}</a>.'
    ]
    assert f'href="{_admin_url(job)}"' in html  # rendered as a link, not escaped

    messages, _ = _action(client, Recording, "segment_again", world["recording"].pk)
    # The recording already has a queued run: refused, said so.
    assert "is already queued" in messages[0]
    SegmentationRun.objects.all().delete()
    messages, _ = _action(client, Recording, "segment_again", world["recording"].pk)
    run = SegmentationRun.objects.get()
    assert messages == [
        f"Segmentation of recording #{world['recording'].pk} queued: "
        f'<a href="{_admin_url(run)}">segmentation run #{run.pk}</a>.'
    ]

    ReleaseExport.objects.all().delete()
    release = world["release"]
    messages, _ = _action(client, type(release), "export", release.pk)
    export = ReleaseExport.objects.get()
    assert messages == [
        f'Export #{export.pk} of release <a href="{_admin_url(release)}">{release}</a> queued: '
        "its progress shows on the release's page."
    ]

    TrainingRun.objects.filter(pk=world["run"].pk).update(status="failed")
    messages, _ = _action(client, TrainingRun, "retry", world["run"].pk)
    assert messages == [f'Queued again: <a href="{_admin_url(world["run"])}">run #{world["run"].pk}</a>.']


def test_a_model_name_stays_as_written_in_messages(world):
    messages, html = _action(world["client"], ModelVersion, "promote", world["mv"].pk)
    project = world["release"].project
    assert messages == [f"Model version tuniser-Classical-v1 now pre-labels project {project}."]
    assert "Model version tuniser-Classical-v1 now" in html


def test_sample_rates_and_counts_read_with_units_and_words(world):
    assert display.sample_rate(48000) == "48 kHz" and display.sample_rate(22050) == "22.05 kHz"
    assert display.sample_rate(None) == "—"
    client = world["client"]
    recording = client.get(_admin_url(world["recording"])).content.decode()
    rate = world["recording"].original_sample_rate
    assert f'<div class="readonly">{display.sample_rate(rate)}</div>' in recording
    assert f'<div class="readonly">{rate}</div>' not in recording
    # No list column is a raw counter field: its header would read "N CLIPS CREATED".
    for model, model_admin in admin.site._registry.items():
        raw = [c for c in model_admin.list_display if isinstance(c, str) and c.startswith("n_")]
        assert raw == [], model
    runs = client.get(reverse("admin:corpus_segmentationrun_changelist")).content.decode()
    assert "Clips created" in runs
    assert not re.search(r">\s*N [a-z ]+\s*<", runs, re.IGNORECASE)
