"""benchmarks.families on its platform path, on a tiny EmoDB subset (2 speakers, 4 classes, 81
real clips, so leave-one-speaker-out is 2 folds), classical family: the k-fold release and the
cross-validated run the benchmark makes are the platform's, and its table prints the parent run's
`cv_metrics`. Structure only, not the figures of issue 14 (those are the full run's, in
benchmarks/RESULTS.md)."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

from annotation.guideline import ensure_guideline
from benchmarks import families as bench
from releases.importers import label_mappings_ensure
from releases.models import Release
from training.models import ModelVersion, TrainingRun

SPEAKERS = ("03", "08")


@pytest.fixture
def tiny_emodb(tmp_path, data_dir):
    """A data folder whose emodb/ holds speakers 03 and 08's anger, happiness, sadness and
    neutral clips (symlinks to the real files)."""
    ensure_guideline()
    label_mappings_ensure()
    folder = tmp_path / "emodb"
    folder.mkdir()
    for f in sorted((data_dir / "emodb").glob("*.flac")):
        if f.name[:2] in SPEAKERS and f.stem[-2] in "WFTN":
            (folder / f.name).symlink_to(f)
    return tmp_path


def _fold_lines(lines: list[str]) -> list[str]:
    return [line for line in lines if " fold " in line and "(test " in line]


@pytest.mark.django_db(transaction=True)
def test_the_platform_path_prints_the_parent_runs_cv_metrics(tiny_emodb, project):
    lines: list[str] = []
    result = bench.run_benchmark(
        project=project,
        corpora=["emodb"],
        families=["classical"],
        data_dir=tiny_emodb,
        out=lines.append,
    )
    (r,) = result["results"]
    parent = TrainingRun.objects.get(pk=r["parent"])
    children = list(TrainingRun.objects.filter(parent=parent).order_by("fold"))
    assert parent.status == "succeeded" and [c.status for c in children] == ["succeeded"] * 2
    # The platform's k-fold release, leave one speaker out, without undersampling.
    release = Release.objects.get(pk=r["release"])
    assert release.params["split_kind"] == "kfold" and release.params["folds"] == 0
    assert release.params["balancing"] == "none" and release.n_items == 81
    cv = parent.cv_metrics
    assert r["summary"] == cv and r["scope"] == "2 of 2 folds"
    assert cv["k"] == 2 and cv["n_test"] == release.n_items  # every clip tested once
    assert [f["ua"] for f in cv["folds"]] == [c.test_metrics["ua"] for c in children]
    assert cv["std"]["ua"] == pytest.approx(np.std([c.test_metrics["ua"] for c in children], ddof=1))

    # The fold lines are the children's, each naming its one test speaker.
    folds = _fold_lines(lines)
    assert len(folds) == 2
    for line, child, speaker in zip(folds, children, SPEAKERS, strict=True):
        assert f"fold {child.fold + 1}/2 (test emodb-{speaker}): UA {child.test_metrics['ua']:.3f}" in line
    # The table's row is the parent's cv_metrics, and the last line its mean UA.
    (row,) = [line for line in lines if line.startswith("emodb   classical")]
    cells = re.split(r"\s{2,}", row)
    assert cells[:7] == [
        "emodb",
        "classical",
        "2 of 2 folds",
        f"{cv['mean']['ua']:.3f} ± {cv['std']['ua']:.3f}",
        f"{cv['pooled']['ua']:.3f}",
        f"{cv['mean']['wa']:.3f} ± {cv['std']['wa']:.3f}",
        f"{cv['mean']['macro_f1']:.3f} ± {cv['std']['macro_f1']:.3f}",
    ]
    assert lines[-1] == f"best_mean_ua={cv['mean']['ua']:.3f}" and result["best_mean_ua"] == cv["mean"]["ua"]
    assert cv["mean"]["ua"] > 0.4  # 4 classes, chance 0.25
    assert not ModelVersion.objects.exists()  # cross-validation deploys nothing


@pytest.mark.django_db(transaction=True)
def test_folds_limit_runs_the_first_fold_and_both_paths_fold_alike(tiny_emodb, project):
    source = bench.corpus_import("emodb", tiny_emodb)
    hparams = {"classical": {}}
    common = dict(name="emodb", project=project, source=source, families=["classical"], hparams=hparams)
    platform_lines: list[str] = []
    (r,) = bench.platform_corpus(**common, folds_limit=1, device="cpu", out=platform_lines.append)
    parent = TrainingRun.objects.get(pk=r["parent"])
    assert [c.status for c in TrainingRun.objects.filter(parent=parent).order_by("fold")] == [
        "succeeded",
        "cancelled",
    ]
    assert parent.status == "cancelled" and parent.cv_metrics is None  # the fold not run was cancelled
    first = TrainingRun.objects.get(parent=parent, fold=0)
    assert r["scope"] == "1 of 2 folds (PARTIAL)" and r["summary"]["k"] == 1
    assert r["summary"]["mean"]["ua"] == first.test_metrics["ua"] and math.isnan(r["summary"]["std"]["ua"])
    row = bench.table_row(
        corpus="emodb", family="classical", scope=r["scope"], summary=r["summary"], seconds=1, cpu_seconds=1
    )
    assert row[3] == f"{first.test_metrics['ua']:.3f} ± nan"

    # The engine path folds the same clips into the same folds: same test speaker, same clips.
    engine_lines: list[str] = []
    (e,) = bench.engine_corpus(
        **common, folds_limit=None, device="cpu", workdir=tiny_emodb / "engine", out=engine_lines.append
    )
    assert e["summary"]["k"] == 2 and e["scope"] == "2 of 2 folds"
    assert e["summary"]["folds"][0]["n_test"] == first.test_metrics["n"]
    test_of = [re.search(r"\(test ([^)]+)\)", line).group(1) for line in _fold_lines(engine_lines)]
    assert test_of == ["emodb-03", "emodb-08"]
    assert "(test emodb-03)" in _fold_lines(platform_lines)[0]
