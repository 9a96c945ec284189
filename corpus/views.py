"""Pages of the corpus. Thin: they read through selectors; writes go through the REST API."""

import mimetypes
import re
from pathlib import Path

from django.conf import settings
from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import render
from django.utils._os import safe_join

from core import roles
from core.access import projects_for_user, role_required
from corpus import selectors
from corpus.models import Recording, SegmentationRun


@role_required(*roles.INGEST_ROLES)
def recording_list(request):
    """Recordings of the user's projects (curators and ML staff)."""
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
            "can_ingest": True,
        },
    )


@role_required(*roles.INGEST_ROLES)
def recording_upload(request):
    """The upload page: drag and drop, a progress bar per file."""
    return render(
        request,
        "corpus/recording_upload.html",
        {
            "projects": projects_for_user(request.user),
            "sources": selectors.sources_for_user(request.user)[:500],
        },
    )


@role_required(*roles.INGEST_ROLES)
def recording_detail(request, pk: int):
    """One recording: waveform, clips as regions, duration histogram, segmentation runs."""
    recording = selectors.recording_for_user(request.user, pk)
    return render(
        request,
        "corpus/recording_detail.html",
        {
            "recording": recording,
            "runs": recording.segmentation_runs.all()[:20],
            "latest_run": selectors.recording_latest_run(recording),
            "can_segment": True,
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
