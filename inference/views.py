from django.shortcuts import render

from core import roles
from inference.models import Prelabeller
from training import selectors as training_selectors


def _forbidden(request):
    return render(
        request, "403.html", {"message": "Only ML staff and curators use the inference pages."}, status=403
    )


def live_page(request):
    if not roles.user_has_role(request.user, roles.ML_STAFF, roles.CURATOR):
        return _forbidden(request)
    versions = training_selectors.model_versions_for_user(request.user)
    active = (
        Prelabeller.objects.filter(project__in=versions.values("project"))
        .values_list("model_version_id", flat=True)
        .first()
    )
    return render(request, "inference/live.html", {"model_versions": versions[:100], "active_id": active})


def quality_page(request):
    if not roles.user_has_role(request.user, roles.ML_STAFF, roles.CURATOR):
        return _forbidden(request)
    return render(request, "inference/quality.html")
