"""Pages of training: run list, a run's live page (loss and UA chart, confusion matrix), comparison."""

import json

from django.core.exceptions import BadRequest
from django.shortcuts import render
from rest_framework.exceptions import ValidationError

from core import display, roles
from core.access import role_required
from core.pagination import page_for_request
from core.serializers import IdCsvField
from releases import selectors as releases_selectors
from releases.models import ReleaseItem
from training import selectors
from training.filters import TrainingRunFilter


@role_required(roles.ML_STAFF)
def run_list(request):
    """The runs of the user's projects, searched, filtered and paged like GET /api/training/runs/."""
    filterset = TrainingRunFilter(request.GET, queryset=selectors.top_level_runs_for_user(request.user))
    runs = filterset.qs if filterset.is_valid() else filterset.queryset.none()
    return render(
        request,
        "training/run_list.html",
        {
            "page_obj": page_for_request(request, runs),
            "filter": filterset,
            "filtered": any(v for k, v in request.GET.items() if k not in ("page", "page_size")),
        },
    )


@role_required(roles.ML_STAFF)
def run_detail(request, pk: int):
    run = selectors.run_for_user(request.user, pk)
    # Hyper-parameters as a table of JSON values (null, true, 3e-05), never a Python dict.
    hparams = display.number(run.resolved_hparams or run.hparams or {})
    rows = [(name, json.dumps(value, ensure_ascii=False)) for name, value in sorted(hparams.items())]
    model_version = getattr(run, "model_version", None)
    evaluate = None
    if model_version is not None:
        # The form's choices: the releases of the run's project only (the API checks again).
        evaluate = {
            "model_version": model_version,
            "releases": releases_selectors.releases_for_user(request.user).filter(project=run.project_id)[
                :200
            ],
            "splits": ReleaseItem.Split.choices,
            "rows": selectors.evaluations_compared(
                selectors.evaluations_for_user(request.user).filter(model_version=model_version)[:50]
            ),
        }
    # A cross-validated run: its folds (children, prefetched in fold order) and their summary.
    children = list(run.children.all())
    return render(
        request,
        "training/run_detail.html",
        {"run": run, "hparams": rows, "children": children, "cv": run.cv_metrics, "evaluate": evaluate},
    )


@role_required(roles.ML_STAFF)
def compare(request):
    try:
        ids = IdCsvField().run_validation(request.GET.get("runs", ""))
    except ValidationError as exc:
        raise BadRequest(f"runs: {exc.detail}") from exc
    runs = selectors.runs_for_user(request.user) if ids else selectors.top_level_runs_for_user(request.user)
    runs = runs.filter(pk__in=ids) if ids else runs.filter(status="succeeded")[:10]
    evaluations = selectors.evaluations_for_user(request.user)
    evaluations = evaluations.filter(model_version__run__in=ids) if ids else evaluations[:20]
    return render(
        request,
        "training/compare.html",
        {"rows": selectors.runs_compared(runs), "evaluations": selectors.evaluations_compared(evaluations)},
    )
