"""Pages of validation and labelling. They render a shell; the work happens through the API,
so no page reloads between clips."""

from django.shortcuts import render

from annotation import selectors, services
from annotation.models import RejectionReason
from annotation.services import PAUSED_MESSAGE
from core import roles
from core.access import project_for_user, role_required
from corpus import selectors as corpus_selectors


@role_required(roles.VALIDATOR, roles.CURATOR)
def validate_page(request):
    return render(request, "annotation/validate.html")


@role_required(roles.ANNOTATOR, roles.CURATOR)
def annotate_page(request):
    """The labelling page; says so up front when the annotator is paused in their project."""
    project = project_for_user(request.user, request.GET.get("project"))
    paused = selectors.standing_blocks(user=request.user, project=project)
    return render(request, "annotation/annotate.html", {"paused": paused, "paused_message": PAUSED_MESSAGE})


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
def checks_page(request):
    """Hidden gold checks of the curator's project: the checks, and clips that may become one."""
    project = project_for_user(request.user, request.GET.get("project"))
    return render(
        request,
        "annotation/checks.html",
        {
            "project": project,
            "checks": selectors.checks_for_project(project=project),
            "candidates": selectors.check_candidate_clips(project=project),
            "config": services.config_for(project),
        },
    )


@role_required(roles.CURATOR)
def adjudication_page(request):
    return render(request, "annotation/adjudication.html")
