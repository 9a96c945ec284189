"""Pages of validation and labelling. They render a shell; the work happens through the API,
so no page reloads between clips."""

from django.shortcuts import render

from core import roles
from corpus import selectors as corpus_selectors


def _forbidden(request, message):
    return render(request, "403.html", {"message": message}, status=403)


def validate_page(request):
    if not roles.user_has_role(request.user, roles.VALIDATOR, roles.CURATOR):
        return _forbidden(request, "Only validators and curators validate clips.")
    return render(request, "annotation/validate.html")


def annotate_page(request):
    if not roles.user_has_role(request.user, roles.ANNOTATOR, roles.CURATOR):
        return _forbidden(request, "Only annotators and curators label clips.")
    return render(request, "annotation/annotate.html")


def progress_page(request):
    if not roles.user_has_role(request.user, roles.CURATOR):
        return _forbidden(request, "Only curators see annotator progress.")
    return render(request, "annotation/progress.html")


def rejected_page(request):
    if not roles.user_has_role(request.user, roles.CURATOR):
        return _forbidden(request, "Only curators review rejected clips.")
    return render(request, "annotation/rejected.html")


def dashboard_page(request):
    if not roles.user_has_role(request.user, roles.CURATOR):
        return _forbidden(request, "Only curators see the agreement dashboard.")
    return render(
        request, "annotation/dashboard.html", {"sources": corpus_selectors.sources_for_user(request.user)}
    )


def adjudication_page(request):
    if not roles.user_has_role(request.user, roles.CURATOR):
        return _forbidden(request, "Only curators adjudicate.")
    return render(request, "annotation/adjudication.html")
