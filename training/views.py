"""Pages of training: run list, a run's live page (loss and UA chart, confusion matrix), comparison."""

import json

from django.core.exceptions import BadRequest
from django.shortcuts import render
from rest_framework.exceptions import ValidationError

from core import display, roles
from core.access import role_required
from core.pagination import page_for_request
from core.serializers import IdCsvField
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
    # A cross-validated run: its folds (children, prefetched in fold order) and their summary.
    children = list(run.children.all())
    return render(
        request,
        "training/run_detail.html",
        {"run": run, "hparams": rows, "children": children, "cv": run.cv_metrics},
    )


@role_required(roles.ML_STAFF)
def compare(request):
    try:
        ids = IdCsvField().run_validation(request.GET.get("runs", ""))
    except ValidationError as exc:
        raise BadRequest(f"runs: {exc.detail}") from exc
    runs = selectors.runs_for_user(request.user) if ids else selectors.top_level_runs_for_user(request.user)
    runs = runs.filter(pk__in=ids) if ids else runs.filter(status="succeeded")[:10]
    return render(request, "training/compare.html", {"rows": selectors.runs_compared(runs)})
