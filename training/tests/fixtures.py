"""Shared fixtures: a release of real RAVDESS speech and a model trained on it."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from annotation.guideline import ensure_guideline
from releases.build import ReleaseParams, release_build
from releases.importers import label_mappings_ensure

# Angry vs neutral (calm counts as neutral); speakers held out by the release split.
ACTORS = range(1, 13)


@pytest.fixture
def release(tmp_path, data_dir, project):
    ensure_guideline()
    label_mappings_ensure()
    folder = tmp_path / "ravdess"
    folder.mkdir()
    for f in sorted((data_dir / "ravdess").glob("03-01-0[125]-*.flac")):
        if int(f.stem[-2:]) in ACTORS:
            (folder / f.name).symlink_to(f)
    call_command("import_corpus", str(folder), "--format", "ravdess", "--no-progress")
    return release_build(
        project=project,
        params=ReleaseParams(
            name="angry-neutral", label_set=["angry", "neutral"], group_by="speaker", split="70/15/15", seed=1
        ),
    )


@pytest.fixture
def trained_model(release):
    """A classical model (seconds on a CPU) trained through the platform on `release`."""
    from training import services
    from training.models import ModelVersion

    run = services.run_create(release=release, family="classical", device="cpu", enqueue=False)
    services.run_execute(run_id=run.pk)
    return ModelVersion.objects.get(run=run)
