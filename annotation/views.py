"""Pages of validation and labelling. They render a shell; the work happens through the API,
so no page reloads between clips."""

from django.shortcuts import render

from annotation import selectors
from annotation.models import RejectionReason
from core import roles
from core.access import project_for_user, role_required
from corpus import selectors as corpus_selectors


@role_required(roles.VALIDATOR, roles.CURATOR)
def validate_page(request):
    return render(request, "annotation/validate.html")


@role_required(roles.ANNOTATOR, roles.CURATOR)
def annotate_page(request):
    return render(request, "annotation/annotate.html")


@role_required(roles.CURATOR)
def progress_page(request):
    return render(request, "annotation/progress.html")


@role_required(roles.CURATOR)
def rejected_page(request):
    """Rejected clips (through the API), and how the speaker step's one-voice confidence compares
    with the validators' "more than one speaker" rejections in the user's project."""
    project = project_for_user(request.user, request.GET.get("project"))
    return render(
        request,
        "annotation/rejected.html",
        {
            "project": project,
            "calibration": selectors.one_speaker_calibration(project=project),
            "reasons": RejectionReason.objects.all(),
        },
    )


@role_required(roles.CURATOR)
def dashboard_page(request):
    return render(
        request, "annotation/dashboard.html", {"sources": corpus_selectors.sources_for_user(request.user)}
    )


@role_required(roles.CURATOR)
def adjudication_page(request):
    return render(request, "annotation/adjudication.html")
