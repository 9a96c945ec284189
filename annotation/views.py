"""Pages of validation and labelling. They render a shell; the work happens through the API,
so no page reloads between clips."""

from django.shortcuts import render

from core import roles
from core.access import role_required
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
    return render(request, "annotation/rejected.html")


@role_required(roles.CURATOR)
def dashboard_page(request):
    return render(
        request, "annotation/dashboard.html", {"sources": corpus_selectors.sources_for_user(request.user)}
    )


@role_required(roles.CURATOR)
def adjudication_page(request):
    return render(request, "annotation/adjudication.html")
