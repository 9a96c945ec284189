"""File serving with one access check (core.files) and HTTP Range support; the members page."""

from __future__ import annotations

import mimetypes
import re
from pathlib import Path

from django.conf import settings
from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import render
from django.utils._os import safe_join

from core import roles
from core.access import project_for_user, projects_for_user, role_required
from core.files import file_access_granted

_RANGE = re.compile(r"bytes=(\d*)-(\d*)$")


def media(request, path: str):
    """A stored file under MEDIA_ROOT, for whoever core.files says may fetch it; 404 otherwise.

    Annotators hear the clip they hold (a live assignment) and nothing else; curators and ML
    staff fetch their own projects' recordings, clips, manifests and exports. Answers HTTP Range
    requests (206), so a browser can seek inside an hour-long recording without downloading it.
    """
    if not file_access_granted(request.user, path):
        raise Http404("Not found.")
    try:
        full = Path(safe_join(settings.MEDIA_ROOT, path))
    except Exception as exc:
        raise Http404("Not found.") from exc
    if not full.is_file():
        raise Http404("Not found.")
    return ranged_file_response(request, full)


def ranged_file_response(request, full: Path) -> HttpResponse:
    """The file at `full`, whole (200) or the byte range the request asks for (206; 416 if the
    range starts past the end). Suffix ranges ("bytes=-500") give the last N bytes."""
    size = full.stat().st_size
    content_type = mimetypes.guess_type(full.name)[0] or "application/octet-stream"
    match = _RANGE.match(request.headers.get("Range", "").strip())
    if not match or (not match.group(1) and not match.group(2)):
        response = FileResponse(open(full, "rb"), content_type=content_type)
        response["Accept-Ranges"] = "bytes"
        return response
    first, last = match.groups()
    if first:
        start, end = int(first), min(int(last) if last else size - 1, size - 1)
    else:  # a suffix range: the last N bytes
        start, end = max(size - int(last), 0), size - 1
    if start >= size or start > end:
        response = HttpResponse(status=416)
        response["Content-Range"] = f"bytes */{size}"
        return response
    with open(full, "rb") as fh:
        fh.seek(start)
        data = fh.read(end - start + 1)
    response = HttpResponse(data, status=206, content_type=content_type)
    response["Content-Range"] = f"bytes {start}-{end}/{size}"
    response["Accept-Ranges"] = "bytes"
    return response


@role_required(roles.CURATOR)
def members_page(request):
    """Curators add people to their projects with a role, and see and change who holds which."""
    # a slug the curator does not belong to: 404 page (tuniser.middleware.ApplicationErrorMiddleware)
    project = project_for_user(request.user, request.GET.get("project"))
    return render(
        request,
        "core/members.html",
        {
            "project": project,
            "projects": projects_for_user(request.user),
            "roles": [(code, roles.LABEL[code]) for code in roles.ALL_ROLES],
            "role_labels": roles.LABEL,
        },
    )
