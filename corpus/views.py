"""Pages of the corpus. Thin: they read through selectors; writes go through the REST API."""

import mimetypes
import re
from pathlib import Path

from django.conf import settings
from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import render
from django.utils._os import safe_join

from core import roles
from corpus import selectors
from corpus.models import Recording, SegmentationRun


def _forbidden(request):
    return render(
        request, "403.html", {"message": "Only curators and ML staff browse recordings."}, status=403
    )


def recording_list(request):
    if not roles.user_has_role(request.user, *roles.INGEST_ROLES):
        return _forbidden(request)
    recordings = selectors.recordings_for_user(request.user)
    status = request.GET.get("status")
    if status in Recording.Status.values:
        recordings = recordings.filter(status=status)
    return render(
        request,
        "corpus/recording_list.html",
        {
            "recordings": recordings[:500],
            "statuses": Recording.Status.choices,
            "status": status,
            "can_ingest": roles.user_has_role(request.user, *roles.INGEST_ROLES),
        },
    )


def recording_upload(request):
    if not roles.user_has_role(request.user, *roles.INGEST_ROLES):
        return render(
            request, "403.html", {"message": "Only curators and ML staff may ingest audio."}, status=403
        )
    return render(
        request,
        "corpus/recording_upload.html",
        {
            "projects": selectors.projects_for_user(request.user),
            "sources": selectors.sources_for_user(request.user)[:500],
        },
    )


def recording_detail(request, pk: int):
    if not roles.user_has_role(request.user, *roles.INGEST_ROLES):
        return _forbidden(request)
    recording = selectors.recordings_for_user(request.user).filter(pk=pk).first()
    if recording is None:
        raise Http404("No such recording.")
    return render(
        request,
        "corpus/recording_detail.html",
        {
            "recording": recording,
            "runs": recording.segmentation_runs.all()[:20],
            "latest_run": selectors.recording_latest_run(recording),
            "can_segment": roles.user_has_role(request.user, *roles.INGEST_ROLES),
            "detectors": SegmentationRun.Detector.choices,
        },
    )


_RANGE = re.compile(r"bytes=(\d*)-(\d*)$")


def media(request, path: str):
    """Audio under MEDIA_ROOT, for curating roles only. Annotators and validators hear the clip
    they hold through /api/clips/<id>/audio/, so nobody browses other clips or their labels.

    Answers HTTP Range requests (206), so a browser can seek inside an hour-long recording
    without downloading it first.
    """
    if not roles.user_has_role(request.user, *roles.INGEST_ROLES):
        raise Http404("Not found.")
    try:
        full = Path(safe_join(settings.MEDIA_ROOT, path))
    except Exception as exc:
        raise Http404("Not found.") from exc
    if not full.is_file():
        raise Http404("Not found.")
    return ranged_file_response(request, full)


def ranged_file_response(request, full: Path):
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
