"""Reads of training: runs and model versions per user, comparisons."""

from django.db.models import Prefetch, QuerySet

from core.access import object_for_user, projects_for_user
from core.models import ACTIVE_STATUSES, JobStatus
from releases.models import ReleaseItem
from training.models import Evaluation, ModelVersion, TrainingRun


def runs_for_user(user) -> QuerySet[TrainingRun]:
    """Training runs of the user's projects, with release, project and model version joined.

    Args:
        user: the requesting user.
    Returns:
        A queryset of TrainingRun, `release`, `project` and `model_version` selected and the
        `children` (cross-validation folds) prefetched in fold order, newest first (the
        model's `-created_at, -id`).
    """
    children = Prefetch("children", queryset=TrainingRun.objects.order_by("fold"))
    return (
        TrainingRun.objects.filter(project__in=projects_for_user(user))
        .select_related("release", "project", "model_version")
        .prefetch_related(children)
    )


def top_level_runs_for_user(user) -> QuerySet[TrainingRun]:
    """`runs_for_user` without the children of cross-validated runs (their parent lists them):
    what the run list, its API and the comparison show.

    Args:
        user: the requesting user.
    Returns:
        A queryset of TrainingRun with no `parent`, joined as `runs_for_user`.
    """
    return runs_for_user(user).filter(parent__isnull=True)


def model_versions_for_user(user) -> QuerySet[ModelVersion]:
    """Model versions of the user's projects, with release and run joined.

    Args:
        user: the requesting user.
    Returns:
        A queryset of ModelVersion, `release` and `run` selected, newest first (the model's
        `-created_at, -id`).
    """
    return ModelVersion.objects.filter(project__in=projects_for_user(user)).select_related("release", "run")


def run_for_user(user, pk) -> TrainingRun:
    """Training run `pk` of one of the user's projects; Http404 otherwise.

    Args:
        user: the requesting user.
        pk: the requested id (a malformed one is not found).
    Returns:
        The TrainingRun, joined as `runs_for_user`.
    Raises:
        Http404: no such run in the user's projects.
    """
    return object_for_user(runs_for_user(user), pk, what="training run")


def model_version_for_user(user, pk) -> ModelVersion:
    """Model version `pk` of one of the user's projects; Http404 otherwise.

    Args:
        user: the requesting user.
        pk: the requested id.
    Returns:
        The ModelVersion, joined as `model_versions_for_user`.
    Raises:
        Http404: no such model version in the user's projects.
    """
    return object_for_user(model_versions_for_user(user), pk, what="model version")


def model_version_seen_clip_ids(model_version: ModelVersion) -> set[int]:
    """The clips a model version learnt from: the one rule of "seen in training".

    The clip ids of the items of the model's own release in the train and validation splits
    (augmented copies count by their clip id, so a clip seen only through a copy is seen). The
    test split is not seen. Evaluations (`training.services.evaluation_create`) and the Quality
    page (`inference.services.prelabel_quality`) leave these clips out.

    Args:
        model_version: the model version.
    Returns:
        A set of Clip ids (empty when the release has no train or validation items).
    """
    return set(
        ReleaseItem.objects.filter(
            release_id=model_version.release_id,
            split__in=[ReleaseItem.Split.TRAIN, ReleaseItem.Split.VALIDATION],
        ).values_list("clip_id", flat=True)
    )


def evaluations_for_user(user) -> QuerySet[Evaluation]:
    """Evaluations of the user's projects, with model version (and its release and run) and the
    evaluated release joined.

    Args:
        user: the requesting user.
    Returns:
        A queryset of Evaluation, `model_version__release`, `model_version__run`, `release` and
        `project` selected, newest first (the model's `-created_at, -id`).
    """
    return Evaluation.objects.filter(project__in=projects_for_user(user)).select_related(
        "model_version__release", "model_version__run", "release", "project"
    )


def evaluation_for_user(user, pk) -> Evaluation:
    """Evaluation `pk` of one of the user's projects; Http404 otherwise.

    Args:
        user: the requesting user.
        pk: the requested id (a malformed one is not found).
    Returns:
        The Evaluation, joined as `evaluations_for_user`.
    Raises:
        Http404: no such evaluation in the user's projects.
    """
    return object_for_user(evaluations_for_user(user), pk, what="evaluation")


def evaluations_compared(evaluations) -> list[dict]:
    """Rows of the comparison's evaluation table: a model (trained on a release) evaluated on a
    release or one of its splits.

    Args:
        evaluations: Evaluations, in the order wanted (joined as `evaluations_for_user`).
    Returns:
        One dict per evaluation: "id", "status", "progress" (0-1), "error", "model_version" (id),
        "model" (its name), "family", "trained_on" (its release, "name vN"), "run" (its run id),
        "evaluated_on" (the release), "split" ("" for all items), "n" (items evaluated, None until
        done), "n_excluded_seen", "n_excluded_unmatched" ({label: items}), "n_excluded" (their
        total), "ua", "wa", "macro_f1" (None until done), "labels", "matched_labels",
        "confusion" (rows = matched_labels, columns = labels; None until done).
    """
    rows = []
    for ev in evaluations:
        m = ev.metrics or {}
        unmatched = ev.n_excluded_unmatched or {}
        rows.append(
            {
                "id": ev.pk,
                "status": ev.status,
                "progress": ev.progress,
                "error": ev.error,
                "model_version": ev.model_version_id,
                "model": ev.model_version.name,
                "family": ev.model_version.family,
                "trained_on": str(ev.model_version.release),
                "run": ev.model_version.run_id,
                "evaluated_on": str(ev.release),
                "split": ev.split,
                "n": m.get("n"),
                "n_excluded_seen": ev.n_excluded_seen,
                "n_excluded_unmatched": unmatched,
                "n_excluded": ev.n_excluded_seen + sum(unmatched.values()),
                "ua": m.get("ua"),
                "wa": m.get("wa"),
                "macro_f1": m.get("macro_f1"),
                "labels": m.get("labels"),
                "matched_labels": m.get("matched_labels"),
                "confusion": m.get("confusion"),
            }
        )
    return rows


def runs_compared(runs) -> list[dict]:
    """Side-by-side rows: family, release, hyper-parameters, best validation and test metrics.

    UA (unweighted average recall) and WA (accuracy) as in the INTERSPEECH 2009 Emotion
    Challenge (Schuller, Steidl and Batliner 2009); see `training.ml.metrics`.

    Args:
        runs: TrainingRuns, in the order wanted (select `release` to avoid a query per run).
    Returns:
        One dict per run: "id", "name", "family", "release", "status", "epochs", "device" (the
        one used, else the one asked for), "precision", "best_val_ua" (the best epoch's), "test_ua",
        "test_wa", "test_macro_f1" (None where absent), "hparams" (resolved, else as given),
        "cv": for a cross-validated run with `cv_metrics`, {"k", "mean", "std"} (mean and sample
        standard deviation over the folds of ua, wa and macro_f1), else None; the test_* figures
        are then the folds' means.
    """
    rows = []
    for run in runs:
        cv = run.cv_metrics or None
        test = cv["mean"] if cv else (run.test_metrics or {})
        best = max(run.history, key=lambda h: h.get("val_ua") or 0) if run.history else {}
        rows.append(
            {
                "id": run.pk,
                "name": str(run),
                "family": run.family,
                "release": str(run.release),
                "status": run.status,
                "epochs": len(run.history),
                "device": run.used_device or run.device,
                "precision": run.precision,
                "best_val_ua": best.get("val_ua"),
                "test_ua": test.get("ua"),
                "test_wa": test.get("wa"),
                "test_macro_f1": test.get("macro_f1"),
                "hparams": run.resolved_hparams or run.hparams,
                "cv": {"k": cv["k"], "mean": cv["mean"], "std": cv["std"]} if cv else None,
            }
        )
    return rows


def training_overview(*, user) -> dict:
    """The ML staff's figures on the home page, over the user's projects.

    Args:
        user: the signed-in person.
    Returns:
        {"active": runs queued or running, "succeeded": finished runs, "failed": failed runs,
        "latest": the newest TrainingRun or None (release and model version selected)}.
    """
    runs = runs_for_user(user)
    return {
        "active": runs.filter(status__in=ACTIVE_STATUSES).count(),
        "succeeded": runs.filter(status=JobStatus.SUCCEEDED).count(),
        "failed": runs.filter(status=JobStatus.FAILED).count(),
        "latest": runs.first(),
    }
