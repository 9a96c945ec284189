"""Pages of the corpus. Thin: they read through selectors; writes go through the REST API."""

from django.conf import settings
from django.http import Http404
from django.shortcuts import render
from django.views.static import serve

from corpus import roles, selectors
from corpus.models import Recording, SegmentationRun


def recording_list(request):
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
        return render(request, "403.html", {"message": "Only curators and ML staff may ingest audio."}, status=403)
    return render(
        request,
        "corpus/recording_upload.html",
        {"projects": selectors.projects_for_user(request.user), "sources": selectors.sources_for_user(request.user)[:500]},
    )


def recording_detail(request, pk: int):
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


def media(request, path: str):
    """Audio under MEDIA_ROOT, for curating roles only. Annotators and validators hear the clip
    they hold through /api/clips/<id>/audio/, so nobody browses other clips or their labels."""
    if not roles.user_has_role(request.user, *roles.INGEST_ROLES):
        raise Http404("Not found.")
    return serve(request, path, document_root=settings.MEDIA_ROOT)
