from django import forms
from django.shortcuts import render

from annotation.models import LabelOption
from core import roles
from core.access import project_for_user, role_required
from inference import selectors
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


class ProjectQueryForm(forms.Form):
    project = forms.SlugField(required=False, max_length=80)


@role_required(roles.CURATOR)
def quotas_page(request):
    """The quota-driven queue of a project of the user (`?project=` slug, default the first):
    per cell the target, the clips so far and in progress, the random picks, and the
    pre-labeller's accuracy on random vs ranked picks."""
    query = ProjectQueryForm(request.GET)
    slug = query.cleaned_data.get("project") if query.is_valid() else "-"  # "-": no such project, 404
    project = project_for_user(request.user, slug or None)
    options = LabelOption.objects.filter(active=True)
    return render(
        request,
        "inference/quotas.html",
        {
            "project": project,
            "figures": selectors.quota_figures(project=project),
            "emotions": options.filter(kind=LabelOption.Kind.EMOTION),
            "genders": options.filter(kind=LabelOption.Kind.GENDER),
        },
    )
