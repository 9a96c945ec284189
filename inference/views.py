from django.shortcuts import render

from core import roles
from core.access import role_required
from inference.models import Prelabeller
from training import selectors as training_selectors


@role_required(roles.ML_STAFF, roles.CURATOR)
def live_page(request):
    versions = training_selectors.model_versions_for_user(request.user)
    active = (
        Prelabeller.objects.filter(project__in=versions.values("project"))
        .values_list("model_version_id", flat=True)
        .first()
    )
    return render(request, "inference/live.html", {"model_versions": versions[:100], "active_id": active})


@role_required(roles.ML_STAFF, roles.CURATOR)
def quality_page(request):
    return render(request, "inference/quality.html")
