"""Pages of training: run list, a run's live page (loss and UA chart, confusion matrix), comparison."""

from django.core.exceptions import BadRequest
from django.shortcuts import render
from rest_framework.exceptions import ValidationError

from core import roles
from core.access import role_required
from core.serializers import IdCsvField
from training import selectors


@role_required(roles.ML_STAFF)
def run_list(request):
    return render(request, "training/run_list.html", {"runs": selectors.runs_for_user(request.user)[:200]})


@role_required(roles.ML_STAFF)
def run_detail(request, pk: int):
    return render(request, "training/run_detail.html", {"run": selectors.run_for_user(request.user, pk)})


@role_required(roles.ML_STAFF)
def compare(request):
    try:
        ids = IdCsvField().run_validation(request.GET.get("runs", ""))
    except ValidationError as exc:
        raise BadRequest(f"runs: {exc.detail}") from exc
    runs = selectors.runs_for_user(request.user)
    runs = runs.filter(pk__in=ids) if ids else runs.filter(status="succeeded")[:10]
    return render(request, "training/compare.html", {"rows": selectors.runs_compared(runs)})
