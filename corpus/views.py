"""Pages of the corpus. Thin: they read through selectors; writes go through the REST API."""

from django.shortcuts import render

from core import roles
from core.access import projects_for_user, role_required
from core.pagination import page_for_request
from corpus import selectors
from corpus.filters import RecordingFilter, SeriesSpeakerFilter
from corpus.models import Recording, SegmentationRun


@role_required(*roles.INGEST_ROLES)
def recording_list(request):
    """Recordings of the user's projects (curators and ML staff): searched, filtered and paged
    on the server with the API's RecordingFilter (an invalid filter is shown, and matches none)."""
    filterset = RecordingFilter(request.GET, queryset=selectors.recordings_for_user(request.user))
    recordings = filterset.qs if filterset.is_valid() else filterset.queryset.none()
    return render(
        request,
        "corpus/recording_list.html",
        {
            "page_obj": page_for_request(request, recordings),
            "filter": filterset,
            "statuses": Recording.Status.choices,
            "status": filterset.form.cleaned_data.get("status") if filterset.is_valid() else "",
            "filtered": any(v for k, v in request.GET.items() if k not in ("page", "page_size")),
            "can_ingest": True,
            # "Upload one" is said only where the projects have none, not where a search found none.
            "has_recordings": filterset.queryset.exists(),
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


@role_required(*roles.INGEST_ROLES)
def speaker_list(request):
    """Voices across each series' episodes: name them, merge two, split one cluster off."""
    filterset = SeriesSpeakerFilter(request.GET, queryset=selectors.series_speakers_for_user(request.user))
    voices = filterset.qs if filterset.is_valid() else filterset.queryset.none()
    # 100 voices to a page, grouped by series (a series may continue on the next page; narrow
    # to it with the search to merge voices that fall on two pages).
    page_obj = page_for_request(request, voices, per_page=100)
    series: dict[str, list] = {}
    for voice in page_obj:
        series.setdefault(voice.series, []).append(voice)
    return render(
        request,
        "corpus/speaker_list.html",
        {
            "series": series,
            "n_voices": page_obj.paginator.count,
            "page_obj": page_obj,
            "filter": filterset,
            "filtered": any(v for k, v in request.GET.items() if k not in ("page", "page_size")),
        },
    )
