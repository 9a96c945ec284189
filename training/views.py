"""Pages of training: run list, a run's live page (loss and UA chart, confusion matrix), comparison."""

from django.http import Http404
from django.shortcuts import render

from core import roles
from training import selectors


def _forbidden(request):
    return render(request, "403.html", {"message": "Only ML staff see training runs."}, status=403)


def run_list(request):
    if not roles.user_has_role(request.user, roles.ML_STAFF):
        return _forbidden(request)
    return render(request, "training/run_list.html", {"runs": selectors.runs_for_user(request.user)[:200]})


def run_detail(request, pk: int):
    if not roles.user_has_role(request.user, roles.ML_STAFF):
        return _forbidden(request)
    run = selectors.runs_for_user(request.user).filter(pk=pk).first()
    if run is None:
        raise Http404("No such run.")
    return render(request, "training/run_detail.html", {"run": run})


def compare(request):
    if not roles.user_has_role(request.user, roles.ML_STAFF):
        return _forbidden(request)
    ids = [int(x) for x in request.GET.get("runs", "").split(",") if x.strip().isdigit()]
    runs = selectors.runs_for_user(request.user)
    runs = runs.filter(pk__in=ids) if ids else runs.filter(status="succeeded")[:10]
    return render(request, "training/compare.html", {"rows": selectors.runs_compared(runs)})
