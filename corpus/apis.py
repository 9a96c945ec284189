"""REST API of the corpus: one thin view per operation (validate, call one service, serialize)."""

from __future__ import annotations

import numpy as np
from django.core.cache import cache
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import generics, serializers, status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from core import roles
from core.access import RolePermission, project_for_user
from core.filters import StrictOrderingFilter
from core.serializers import IdField, MillisecondsField
from corpus import audio, selectors, services
from corpus.filters import RecordingFilter, SeriesSpeakerFilter, SourceFilter
from corpus.models import Clip, Recording, SegmentationRun, SeriesSpeaker, Source, SpeakerCluster

# Who may bring audio in, browse recordings and (re)segment them.
INGEST_PERMISSION = RolePermission(*roles.INGEST_ROLES)


# --- serializers ------------------------------------------------------------------------------


class SegmentationRunSerializer(serializers.ModelSerializer):
    class Meta:
        model = SegmentationRun
        fields = [
            "id",
            "recording",
            "status",
            "progress",
            "error",
            *services.PARAM_FIELDS,
            "n_regions",
            "n_clips_created",
            "n_clips_replaced",
            "n_clips_kept",
            "speech_s",
            "created_at",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields


class SourceSerializer(serializers.ModelSerializer):
    project = serializers.SlugRelatedField(slug_field="slug", read_only=True)

    class Meta:
        model = Source
        fields = [
            "id",
            "project",
            "title",
            "kind",
            "episode",
            "channel",
            "air_date",
            "url",
            "licence_note",
            "dialect",
        ]


class RecordingSerializer(serializers.ModelSerializer):
    source = SourceSerializer(read_only=True)
    n_clips = serializers.IntegerField(read_only=True)
    url = serializers.CharField(source="get_absolute_url", read_only=True)
    audio_url = serializers.SerializerMethodField()

    class Meta:
        model = Recording
        fields = [
            "id",
            "url",
            "source",
            "original_name",
            "size_bytes",
            "sha256",
            "container",
            "codec",
            "original_sample_rate",
            "original_channels",
            "has_video",
            "audio_tracks",
            "audio_track",
            "track_reason",
            "downmix",
            "decode_warnings",
            "duration_s",
            "status",
            "error",
            "n_clips",
            "audio_url",
            "created_at",
        ]
        read_only_fields = fields

    def get_audio_url(self, obj) -> str | None:
        return obj.normalised.url if obj.normalised else None


class ClipSerializer(serializers.ModelSerializer):
    audio_url = serializers.FileField(source="audio", read_only=True, use_url=True)
    speaker_label = serializers.CharField(
        source="speaker_cluster.display", read_only=True, default="", help_text="Its speaker cluster."
    )

    class Meta:
        model = Clip
        fields = [
            "id",
            "recording",
            "start_s",
            "end_s",
            "duration_s",
            "audio_url",
            "level_dbfs",
            "speech_ratio",
            "clipping_ratio",
            "snr_db",
            "speech_prob",
            "speaker",
            "speaker_cluster",
            "speaker_label",
            "one_speaker_conf",
            "status",
            "segmentation_run",
        ]
        read_only_fields = fields


class RecordingUploadSerializer(serializers.Serializer):
    file = serializers.FileField(
        allow_empty_file=True,
        help_text="Any audio or video file in which ffmpeg finds an audio stream (wav, mp3, aac, "
        "flac, mp4, mkv, MPEG-TS, ...): the content decides, not the extension.",
    )
    audio_track = serializers.IntegerField(
        required=False,
        allow_null=True,
        default=None,
        min_value=0,
        max_value=63,
        help_text="The audio track to use (0 = the file's first audio track). Default: one in the "
        "project's languages, else the default-flagged track, else the first.",
    )
    project = serializers.SlugField(
        required=False, max_length=80, help_text="Project slug; optional if you belong to one project."
    )
    source = IdField(required=False, help_text="Existing source id (else give source_title).")
    source_title = serializers.CharField(
        required=False, max_length=300, help_text="Series or programme title."
    )
    episode = serializers.CharField(required=False, allow_blank=True, max_length=100, default="")
    channel = serializers.CharField(required=False, allow_blank=True, max_length=200, default="")
    air_date = serializers.DateField(required=False, allow_null=True, default=None)
    segment = serializers.BooleanField(
        required=False, default=True, help_text="Queue segmentation right away."
    )

    def validate(self, attrs):
        if not attrs.get("source") and not attrs.get("source_title"):
            raise serializers.ValidationError("Give a source id or a source_title (the series or programme).")
        return attrs


class PeaksQuerySerializer(serializers.Serializer):
    n = serializers.IntegerField(
        required=False, default=4000, min_value=100, max_value=20000, help_text="Number of peaks"
    )


class IngestResponseSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.CharField()
    duplicate = serializers.BooleanField()
    detail = serializers.CharField()
    url = serializers.CharField()
    recording = RecordingSerializer()
    segmentation_run = SegmentationRunSerializer(allow_null=True)


class SegmentRequestSerializer(serializers.ModelSerializer):
    # Bounded here on every database (the model's range is the column's: 2**63 on SQLite); the
    # VAD's own limits are `VadParams.validate`'s, checked by the service.
    hangover_ms = MillisecondsField(required=False)
    padding_ms = MillisecondsField(required=False)
    merge_gap_ms = MillisecondsField(required=False)

    class Meta:
        model = SegmentationRun
        fields = list(services.PARAM_FIELDS)
        extra_kwargs = {name: {"required": False} for name in services.PARAM_FIELDS}


# --- views --------------------------------------------------------------------------------------


class RecordingListCreateApi(generics.ListAPIView):
    """GET: the recordings of the user's projects, paged (`count`, `results`), filtered by
    `RecordingFilter` (search, status, series, episode, dates) and ordered by `ordering`.
    POST: ingest a file."""

    parser_classes = [MultiPartParser, FormParser]
    permission_classes = [INGEST_PERMISSION]
    serializer_class = RecordingSerializer
    filter_backends = [DjangoFilterBackend, StrictOrderingFilter]
    filterset_class = RecordingFilter
    ordering_fields = ["created_at", "original_name", "duration_s", "source__title", "source__episode"]

    def get_queryset(self):
        return selectors.recordings_for_user(self.request.user)

    @extend_schema(operation_id="recordings_list")
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(
        operation_id="recordings_ingest",
        request=RecordingUploadSerializer,
        responses={
            201: OpenApiResponse(IngestResponseSerializer, description="Ingested; segmentation queued."),
            200: OpenApiResponse(IngestResponseSerializer, description="The same file was ingested before."),
            400: OpenApiResponse(description="Empty file, no such audio track, missing source."),
            413: OpenApiResponse(description="Over the size limit."),
            415: OpenApiResponse(description="No audio stream in the file (content decides, not the name)."),
            422: OpenApiResponse(
                IngestResponseSerializer, description="Not decodable: kept with status failed."
            ),
        },
    )
    def post(self, request):
        data = RecordingUploadSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        # Refuse a bad file before anything is written (not even its Source).
        services.upload_refuse_early(upload=v["file"], audio_track=v["audio_track"])
        if v.get("source"):
            source = selectors.source_for_user(request.user, v["source"])
        else:
            project = project_for_user(request.user, v.get("project"))
            source = services.source_get_or_create(
                project=project,
                title=v["source_title"],
                episode=v["episode"],
                channel=v["channel"],
                air_date=v["air_date"],
                created_by=request.user,
            )
        result = services.recording_ingest(
            source=source,
            upload=v["file"],
            uploaded_by=request.user,
            segment=v["segment"],
            audio_track=v["audio_track"],
        )
        return Response(ingest_response(result, request), status=ingest_status(result))


def ingest_status(result: services.IngestResult) -> int:
    if result.duplicate:
        return status.HTTP_200_OK
    return status.HTTP_422_UNPROCESSABLE_ENTITY if result.failed else status.HTTP_201_CREATED


def ingest_response(result: services.IngestResult, request) -> dict:
    rec = (
        selectors.recordings_for_user(request.user).filter(pk=result.recording.pk).first() or result.recording
    )
    if not hasattr(rec, "n_clips"):
        rec.n_clips = rec.clips.count()
    if result.duplicate:
        state = rec.get_status_display().lower()
        detail = f"Already ingested as recording #{rec.pk} ({rec.original_name}, {state})."
    elif result.failed:
        detail = rec.error
    else:
        detail = f"Ingested as recording #{rec.pk} ({rec.duration_s:.1f} s of audio)."
    run = selectors.recording_latest_run(rec)
    return {
        "id": rec.pk,
        "status": rec.status,
        "duplicate": result.duplicate,
        "detail": detail,
        "url": rec.get_absolute_url(),
        "recording": RecordingSerializer(rec, context={"request": request}).data,
        "segmentation_run": SegmentationRunSerializer(run).data if run else None,
    }


class RecordingDetailApi(APIView):
    @extend_schema(operation_id="recordings_retrieve", responses=RecordingSerializer)
    def get(self, request, pk: int):
        recording = selectors.recording_for_user(request.user, pk)
        return Response(RecordingSerializer(recording, context={"request": request}).data)


class RecordingClipsApi(APIView):
    @extend_schema(operation_id="recordings_clips", responses=ClipSerializer(many=True))
    def get(self, request, pk: int):
        recording = selectors.recording_for_user(request.user, pk)
        clips = selectors.recording_clips(recording)
        return Response(ClipSerializer(clips, many=True, context={"request": request}).data)


class RecordingSummaryApi(APIView):
    @extend_schema(
        operation_id="recordings_summary",
        responses=inline_serializer(
            "RecordingSummary",
            {
                "count": serializers.IntegerField(),
                "total_s": serializers.FloatField(),
                "mean_s": serializers.FloatField(allow_null=True),
                "median_s": serializers.FloatField(allow_null=True),
                "histogram": serializers.DictField(),
                "latest_run": SegmentationRunSerializer(allow_null=True),
            },
        ),
    )
    def get(self, request, pk: int):
        recording = selectors.recording_for_user(request.user, pk)
        summary = selectors.clip_summary(selectors.recording_clips(recording))
        run = selectors.recording_latest_run(recording)
        summary["latest_run"] = SegmentationRunSerializer(run).data if run else None
        return Response(summary)


class RecordingPeaksApi(APIView):
    @extend_schema(
        operation_id="recordings_peaks",
        parameters=[PeaksQuerySerializer],
        responses=inline_serializer(
            "RecordingPeaks", {"duration": serializers.FloatField(), "peaks": serializers.ListField()}
        ),
    )
    def get(self, request, pk: int):
        """Waveform peaks for the recording page, so the browser need not decode an hour of audio."""
        recording = selectors.recording_for_user(request.user, pk)
        if not recording.normalised:
            raise Http404("This recording has no decoded audio.")
        query = PeaksQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        n = query.validated_data["n"]
        # The normalised audio of a recording never changes: its peaks are computed once.
        key = f"peaks:{recording.sha256}:{n}"
        return Response(
            cache.get_or_set(key, lambda: _peaks(recording.normalised.name, n), timeout=7 * 86400)
        )


def _peaks(name: str, n: int) -> dict:
    with default_storage.open(name, "rb") as fh:
        samples = audio.read_pcm16(fh)
    usable = (
        samples[: len(samples) - len(samples) % n]
        if len(samples) >= n
        else np.pad(samples, (0, n - len(samples)))
    )
    peaks = np.abs(usable.reshape(n, -1)).max(axis=1) / 32768.0
    return {"duration": len(samples) / audio.SAMPLE_RATE, "peaks": np.round(peaks, 4).tolist()}


class RecordingSegmentApi(APIView):
    permission_classes = [INGEST_PERMISSION]

    @extend_schema(
        operation_id="recordings_segment",
        request=SegmentRequestSerializer,
        responses={
            202: SegmentationRunSerializer,
            400: OpenApiResponse(description="Invalid parameters or a run in progress"),
        },
    )
    def post(self, request, pk: int):
        """Segment the recording again with other parameters. Clips with validation or labels stay."""
        recording = selectors.recording_for_user(request.user, pk)
        params = SegmentRequestSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        run = services.segmentation_run_create(
            recording=recording, created_by=request.user, **params.validated_data
        )
        return Response(SegmentationRunSerializer(run).data, status=status.HTTP_202_ACCEPTED)


class RedecodeSerializer(serializers.Serializer):
    audio_track = serializers.IntegerField(
        min_value=0,
        max_value=63,
        help_text="The audio track to use (position among the file's audio tracks).",
    )


class RecordingRedecodeApi(APIView):
    permission_classes = [INGEST_PERMISSION]

    @extend_schema(
        operation_id="recordings_redecode",
        request=RedecodeSerializer,
        responses={
            202: RecordingSerializer,
            400: OpenApiResponse(description="No such audio track"),
            409: OpenApiResponse(description="A segmentation is running, or clips already carry work"),
            422: OpenApiResponse(description="That track does not decode"),
        },
    )
    def post(self, request, pk: int):
        """Decode the recording again from its original with another audio track, and segment it."""
        recording = selectors.recording_for_user(request.user, pk)
        data = RedecodeSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.recording_redecode(
            recording=recording, audio_track=data.validated_data["audio_track"], created_by=request.user
        )
        fresh = selectors.recording_for_user(request.user, pk)
        return Response(
            RecordingSerializer(fresh, context={"request": request}).data, status=status.HTTP_202_ACCEPTED
        )


class SegmentationRunDetailApi(APIView):
    permission_classes = [INGEST_PERMISSION]

    @extend_schema(operation_id="segmentation_runs_retrieve", responses=SegmentationRunSerializer)
    def get(self, request, pk: int):
        return Response(SegmentationRunSerializer(selectors.segmentation_run_for_user(request.user, pk)).data)


class SourceListApi(generics.ListAPIView):
    """Sources (series and episodes) of the user's projects, paged, filtered by `SourceFilter`."""

    permission_classes = [INGEST_PERMISSION]
    serializer_class = SourceSerializer
    filter_backends = [DjangoFilterBackend]
    filterset_class = SourceFilter

    def get_queryset(self):
        return selectors.sources_for_user(self.request.user)


class ClipAudioApi(APIView):
    @extend_schema(
        operation_id="clips_audio",
        responses={(200, "audio/wav"): OpenApiResponse(description="The clip's WAV")},
    )
    def get(self, request, pk: int):
        """A clip's audio, for curators of its project and for whoever holds it right now."""
        clip = selectors.clip_audio_for_user(request.user, pk)
        # The file name given is the clip's id, never the storage key: a key tells an imported
        # corpus clip ("whole.wav", often a hidden gold check) from a segmented one.
        response = FileResponse(
            default_storage.open(clip.audio.name, "rb"),
            content_type="audio/wav",
            filename=f"clip-{clip.pk}.wav",
        )
        response["Cache-Control"] = "private, max-age=600"
        return response


# --- speakers -------------------------------------------------------------------------------------


class SeriesSpeakerBriefSerializer(serializers.ModelSerializer):
    class Meta:
        model = SeriesSpeaker
        fields = ["id", "name", "series"]
        read_only_fields = fields


class SpeakerClusterSerializer(serializers.ModelSerializer):
    display = serializers.CharField(read_only=True)
    series_speaker = SeriesSpeakerBriefSerializer(read_only=True, allow_null=True)

    class Meta:
        model = SpeakerCluster
        fields = [
            "id",
            "recording",
            "index",
            "label",
            "display",
            "total_speech_s",
            "clip_count",
            "series_speaker",
        ]
        read_only_fields = fields


class SeriesSpeakerSerializer(serializers.ModelSerializer):
    n_clips = serializers.IntegerField(read_only=True, allow_null=True)
    speech_s = serializers.FloatField(read_only=True, allow_null=True)
    clusters = SpeakerClusterSerializer(many=True, read_only=True)

    class Meta:
        model = SeriesSpeaker
        fields = ["id", "series", "name", "n_clips", "speech_s", "clusters"]
        read_only_fields = fields


class SeriesSpeakerRenameSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100, allow_blank=True, trim_whitespace=True)


class SeriesSpeakerMergeSerializer(serializers.Serializer):
    other = IdField(help_text="The series speaker merged into this one (then deleted).")


class RecordingSpeakersApi(APIView):
    # like the recording's other reads: 404 (not 403) for roles that may not browse recordings
    @extend_schema(operation_id="recordings_speakers", responses=SpeakerClusterSerializer(many=True))
    def get(self, request, pk: int):
        """The recording's speaker clusters (the speaker step of its last segmentation)."""
        recording = selectors.recording_for_user(request.user, pk)
        clusters = selectors.recording_speaker_clusters(recording)
        return Response(SpeakerClusterSerializer(clusters, many=True).data)


class SeriesSpeakerListApi(generics.ListAPIView):
    """Voices across each series' episodes, with their clusters, by series then most speech first;
    paged (`count`, `results`) and filtered by `SeriesSpeakerFilter` (search, series)."""

    permission_classes = [INGEST_PERMISSION]
    serializer_class = SeriesSpeakerSerializer
    filter_backends = [DjangoFilterBackend]
    filterset_class = SeriesSpeakerFilter

    def get_queryset(self):
        slug = self.request.query_params.get("project")
        project = project_for_user(self.request.user, slug) if slug else None
        return selectors.series_speakers_for_user(self.request.user, project=project)

    @extend_schema(
        operation_id="series_speakers_list",
        parameters=[OpenApiParameter("project", str, description="Project slug (default: all yours)")],
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class SeriesSpeakerDetailApi(APIView):
    permission_classes = [INGEST_PERMISSION]

    @extend_schema(
        operation_id="series_speakers_rename",
        request=SeriesSpeakerRenameSerializer,
        responses={
            200: SeriesSpeakerBriefSerializer,
            400: OpenApiResponse(description="Name taken or too long"),
        },
    )
    def patch(self, request, pk: int):
        """Name a voice ("Sbouï"); an empty name makes it unnamed."""
        voice = selectors.series_speaker_for_user(request.user, pk)
        data = SeriesSpeakerRenameSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        voice = services.series_speaker_rename(voice=voice, name=data.validated_data["name"])
        return Response(SeriesSpeakerBriefSerializer(voice).data)


class SeriesSpeakerMergeApi(APIView):
    permission_classes = [INGEST_PERMISSION]

    @extend_schema(
        operation_id="series_speakers_merge",
        request=SeriesSpeakerMergeSerializer,
        responses={200: SeriesSpeakerBriefSerializer, 400: OpenApiResponse(description="Not mergeable")},
    )
    def post(self, request, pk: int):
        """Merge another voice of the same series into this one."""
        voice = selectors.series_speaker_for_user(request.user, pk)
        data = SeriesSpeakerMergeSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        other = selectors.series_speaker_for_user(request.user, data.validated_data["other"])
        voice = services.series_speaker_merge(voice=voice, other=other)
        return Response(SeriesSpeakerBriefSerializer(voice).data)


class SpeakerClusterDetachApi(APIView):
    permission_classes = [INGEST_PERMISSION]

    @extend_schema(
        operation_id="speaker_clusters_detach",
        request=None,
        responses={201: SeriesSpeakerBriefSerializer, 400: OpenApiResponse(description="Nothing to split")},
    )
    def post(self, request, pk: int):
        """Split a voice: this cluster leaves its series speaker for a new one of its own."""
        cluster = selectors.speaker_cluster_for_user(request.user, pk)
        voice = services.speaker_cluster_detach(cluster=cluster)
        return Response(SeriesSpeakerBriefSerializer(voice).data, status=status.HTTP_201_CREATED)
