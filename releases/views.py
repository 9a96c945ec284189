"""Pages of the releases app: the releases page renders a shell; the work goes through the API."""

from django.shortcuts import render

from core import roles
from core.access import role_required
from corpus import selectors as corpus_selectors


@role_required(roles.CURATOR)
def releases_page(request):
    """Build, list and export releases (curators)."""
    return render(
        request, "releases/releases.html", {"sources": corpus_selectors.sources_for_user(request.user)}
    )
