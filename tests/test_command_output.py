"""What each management command prints, numbers included: a person reads these lines in a
terminal and acts on them.

Commands and where their output is tested:
- import_corpus: releases/tests/test_provenance.py (clips per label, already imported,
  duplicates inside one import) and releases/tests/test_releases.py (excluded, unmapped);
- ingest: corpus/tests/test_cli.py; member_add: tests/test_admin_roles.py;
- train: training/tests/test_runs.py::test_train_command (the run's metrics as printed);
- runstack: tests/test_deployment.py (a real stack in a subprocess);
- release_build, jobs_sweep, ensure_demo_admin: here.
"""

from __future__ import annotations

import io
import re
from collections import Counter

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from annotation.guideline import ensure_guideline
from core import jobs
from corpus import services as corpus_services
from corpus.models import SegmentationRun
from releases.importers import corpus_import, label_mappings_ensure
from releases.models import Release

pytestmark = pytest.mark.django_db


def _call(*args, **kwargs) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out, **kwargs)
    return out.getvalue()


def test_release_build_prints_its_items_per_split_and_label(tmp_path, data_dir, project):
    ensure_guideline()
    label_mappings_ensure()
    root = tmp_path / "ravdess"
    root.mkdir()
    for f in sorted((data_dir / "ravdess").glob("03-01-0[15]-01-01-0[12]-0[1-8].flac")):
        (root / f.name).symlink_to(f)
    assert corpus_import(project=project, fmt="ravdess", root=root).imported == 32

    out = _call("release_build", "two", "--labels", "neutral,angry", "--split", "50/25/25", "--export")

    release = Release.objects.get(name="two")
    counts = Counter(release.items.values_list("split", "label"))
    lines = out.splitlines()
    assert lines[0] == f"release two v1: {release.n_items} items, sha256 {release.checksum}"
    expected = [
        f"  {split:<10} {counts[split, 'angry'] + counts[split, 'neutral']:>5} items: "
        f"angry {counts[split, 'angry']}, neutral {counts[split, 'neutral']}"
        for split in ("train", "validation", "test")
    ]
    assert lines[1:4] == expected, out
    assert sum(counts.values()) == release.n_items == 32  # balanced already: 16 + 16
    assert counts["train", "angry"] > 0 and counts["test", "neutral"] > 0
    assert re.fullmatch(r"archive: \S+\.zip \(\d+\.\d MiB\)", lines[4]), lines[4]


def test_jobs_sweep_prints_what_it_gave_up_and_took_back(tmp_path, data_dir, project, settings):
    settings.TUNISER = {**settings.TUNISER, "JOB_MAX_ATTEMPTS": 2}
    source = corpus_services.source_get_or_create(project=project, title="Sweep")
    runs = []
    for i, name in enumerate(("03-01-05-01-01-01-01.flac", "03-01-05-01-01-01-02.flac")):
        rec = corpus_services.recording_ingest(source=source, path=data_dir / "ravdess" / name, segment=False)
        run = corpus_services.segmentation_run_create(recording=rec.recording, enqueue=False)
        # A worker that died: no heartbeat; the first used its last attempt, the second has one left.
        SegmentationRun.objects.filter(pk=run.pk).update(status="running", heartbeat_at=None, attempts=2 - i)
        runs.append(run.pk)

    assert _call("jobs_sweep") == "given up 1, queued again 1, messages re-sent 0\n"
    assert SegmentationRun.objects.get(pk=runs[0]).status == "failed"
    assert _call("jobs_sweep") == "given up 0, queued again 0, messages re-sent 0\n"
    assert jobs.jobs_sweep() == jobs.SweepReport()


def test_ensure_demo_admin_says_which_login_to_use(project, monkeypatch):
    monkeypatch.setenv("TUNISER_DEMO_USER", "demo")
    monkeypatch.setenv("TUNISER_DEMO_PASSWORD", "demo-pass-1234")
    assert "Created demo admin: demo / demo-pass-1234" in _call("ensure_demo_admin")
    assert get_user_model().objects.get(username="demo").is_superuser
    assert _call("ensure_demo_admin") == (
        "Demo admin: demo / demo-pass-1234  (change this password for real use)\n"
    )
    monkeypatch.setenv("TUNISER_DEMO_PASSWORD", "changed")
    assert _call("ensure_demo_admin") == "A superuser exists; no demo admin created.\n"
