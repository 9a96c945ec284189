"""Admin pages of the corpus. Adding a recording or a segmentation run goes through the same
services as the upload page, the API and the CLI."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.utils.html import format_html

from core import display
from core.admin import ProjectScopedAdmin, admin_change_link, json_block
from corpus import services
from corpus.models import Clip, Recording, SegmentationRun, Source


@admin.register(Source)
class SourceAdmin(ProjectScopedAdmin):
    list_display = ["title", "episode", "kind", "channel", "air_date", "project"]
    list_filter = ["project", "kind", "channel"]
    search_fields = ["title", "episode", "channel"]
    date_hierarchy = "air_date"


class RecordingIngestForm(forms.ModelForm):
    upload = forms.FileField(help_text="Audio or video; decoded to 16 kHz mono and segmented.")
    segment = forms.BooleanField(required=False, initial=True, help_text="Queue segmentation right away.")

    audio_track = forms.IntegerField(
        required=False,
        min_value=0,
        max_value=63,
        help_text="Blank: a track in the project's languages, else the default-flagged one, else the first.",
    )

    class Meta:
        model = Recording
        fields = ["source"]

    def clean(self):
        """Refuse here, with the same messages as the API, an empty or over-size file and one in
        which ffmpeg finds no audio stream (or not the track asked for): nothing is stored."""
        cleaned = super().clean()
        upload = cleaned.get("upload")
        if upload is None:
            return cleaned
        try:
            services.upload_refuse_early(upload=upload, audio_track=cleaned.get("audio_track"))
        except services.IngestRejected as exc:
            raise ValidationError({"upload": exc.message}) from exc
        return cleaned


class ClipReadableMixin:
    """Clip measurements as people read them: times and durations in s / min, ratios as
    percents, levels in dB with one decimal, probabilities to 3 places."""

    @admin.display(description="start")
    def start(self, clip):
        return display.duration(clip.start_s)

    @admin.display(description="end")
    def end(self, clip):
        return display.duration(clip.end_s)

    @admin.display(description="duration", ordering="duration_s")
    def length(self, clip):
        return display.duration(clip.duration_s)

    @admin.display(description="level")
    def level(self, clip):
        return display.DASH if clip.level_dbfs is None else f"{clip.level_dbfs:.1f} dBFS"

    @admin.display(description="SNR", ordering="snr_db")
    def snr(self, clip):
        return display.snr(clip.snr_db)

    @admin.display(description="speech ratio")
    def speech(self, clip):
        return display.percent(clip.speech_ratio)

    @admin.display(description="clipping ratio")
    def clipping(self, clip):
        return display.percent(clip.clipping_ratio)

    @admin.display(description="speech probability")
    def speech_probability(self, clip):
        return display.probability(clip.speech_prob)

    @admin.display(description="one-speaker confidence")
    def one_speaker(self, clip):
        return display.probability(clip.one_speaker_conf)


class ClipInline(ClipReadableMixin, admin.TabularInline):
    model = Clip
    fields = ["start", "end", "length", "status", "level", "snr", "player"]
    readonly_fields = fields
    extra = 0
    max_num = 0
    show_change_link = True
    can_delete = False

    @admin.display(description="audio")
    def player(self, clip):
        return format_html('<audio controls preload="none" src="{}"></audio>', clip.audio.url)


@admin.register(Recording)
class RecordingAdmin(ProjectScopedAdmin):
    list_display = ["id", "original_name", "source", "status", "length", "created_at"]
    display_instead = {
        "size_bytes": "size",
        "duration_s": "length",
        "audio_tracks": "tracks",
        "decode_warnings": "warnings",
        "original_sample_rate": "sample_rate",
    }
    list_filter = ["status", "source__project", "source"]
    search_fields = ["original_name", "sha256", "source__title"]
    readonly_fields = [
        "original",
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
        "normalised",
        "duration_s",
        "status",
        "error",
        "uploaded_by",
        "created_at",
        "updated_at",
    ]
    inlines = [ClipInline]
    actions = ["segment_again"]

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = RecordingIngestForm
        return super().get_form(request, obj, change=change, **kwargs)

    @admin.display(description="duration", ordering="duration_s")
    def length(self, recording):
        return display.duration(recording.duration_s)

    @admin.display(description="original sample rate")
    def sample_rate(self, recording):
        return display.sample_rate(recording.original_sample_rate)

    @admin.display(description="size")
    def size(self, recording):
        return display.size(recording.size_bytes)

    @admin.display(description="audio tracks")
    def tracks(self, recording):
        return json_block(recording.audio_tracks)

    @admin.display(description="decode warnings")
    def warnings(self, recording):
        return json_block(recording.decode_warnings)

    def get_readonly_fields(self, request, obj=None):
        return self.readable(self.readonly_fields) if obj else []

    def get_fields(self, request, obj=None):
        return (
            ["source", "upload", "segment"]
            if obj is None
            else ["source", *self.readable(self.readonly_fields)]
        )

    def get_inlines(self, request, obj):
        return self.inlines if obj else []

    def save_model(self, request, obj, form, change):
        if change:
            return super().save_model(request, obj, form, change)
        result = services.recording_ingest(
            source=form.cleaned_data["source"],
            upload=form.cleaned_data["upload"],
            uploaded_by=request.user,
            segment=form.cleaned_data["segment"],
            audio_track=form.cleaned_data.get("audio_track"),
        )
        obj.pk = result.recording.pk
        obj.__dict__.update({k: v for k, v in result.recording.__dict__.items() if not k.startswith("_")})
        if result.duplicate:
            messages.warning(
                request, f"This file was already ingested as recording #{obj.pk}; nothing was added."
            )
        elif result.failed:
            messages.error(request, f"Recording #{obj.pk} could not be decoded: {obj.error}")

    def save_related(self, request, form, formsets, change):
        if change:
            super().save_related(request, form, formsets, change)

    @admin.action(description="Segment again with the default parameters")
    def segment_again(self, request, queryset):
        for recording in queryset:
            try:
                run = services.segmentation_run_create(recording=recording, created_by=request.user)
            except ValidationError as exc:
                messages.error(request, f"Recording #{recording.pk}: {' '.join(exc.messages)}")
                continue
            messages.success(
                request,
                format_html(
                    "Segmentation of recording #{} queued: {}.",
                    recording.pk,
                    admin_change_link(run, f"segmentation run #{run.pk}"),
                ),
            )


class SegmentationRunForm(forms.ModelForm):
    class Meta:
        model = SegmentationRun
        fields = ["recording", *services.PARAM_FIELDS]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not self.instance.pk:
            for name, value in services.segmentation_defaults().items():
                self.fields[name].initial = value

    def clean(self):
        cleaned = super().clean()
        if self.instance.pk is None and not self.errors:
            probe = SegmentationRun(**{k: cleaned[k] for k in ["recording", *services.PARAM_FIELDS]})
            try:
                probe.vad_params().validate()
            except ValueError as exc:
                raise ValidationError(str(exc)) from exc
            busy = cleaned["recording"].segmentation_runs.filter(
                status__in=[SegmentationRun.Status.QUEUED, SegmentationRun.Status.RUNNING]
            )
            if busy.exists():
                raise ValidationError("A segmentation of this recording is already queued or running.")
        return cleaned


@admin.register(SegmentationRun)
class SegmentationRunAdmin(ProjectScopedAdmin):
    project_field = "recording__project"
    form = SegmentationRunForm
    list_display = ["id", "recording", "detector", "status", "progress_bar", "clips_created", "created_at"]
    list_filter = ["status", "detector"]
    raw_id_fields = ["recording"]
    display_instead = {"progress": "progress_bar", "speech_s": "speech"}

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        return self.readable([f.name for f in SegmentationRun._meta.fields])

    @admin.display(description="progress")
    def progress_bar(self, run):
        return format_html(
            '<progress max="100" value="{}"></progress> {}',
            round(run.progress * 100, 1),
            display.percent(run.progress),
        )

    @admin.display(description="clips created", ordering="n_clips_created")
    def clips_created(self, run):
        return run.n_clips_created

    @admin.display(description="speech found")
    def speech(self, run):
        return display.duration(run.speech_s)

    def save_model(self, request, obj, form, change):
        if change:
            return
        params = {k: form.cleaned_data[k] for k in services.PARAM_FIELDS}
        try:
            run = services.segmentation_run_create(
                recording=form.cleaned_data["recording"], created_by=request.user, **params
            )
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
            return
        obj.pk = run.pk
        messages.success(
            request, format_html("Queued: {}.", admin_change_link(run, f"segmentation run #{run.pk}"))
        )


@admin.register(Clip)
class ClipAdmin(ClipReadableMixin, ProjectScopedAdmin):
    project_field = "recording__project"
    list_display = ["id", "recording", "start", "end", "length", "status", "snr", "player"]
    display_instead = {
        "start_s": "start",
        "end_s": "end",
        "duration_s": "length",
        "level_dbfs": "level",
        "snr_db": "snr",
        "speech_ratio": "speech",
        "clipping_ratio": "clipping",
        "speech_prob": "speech_probability",
        "one_speaker_conf": "one_speaker",
    }
    list_filter = ["status", "recording__source__project", "recording__source"]
    readonly_fields = [f.name for f in Clip._meta.fields if f.name != "status"] + ["player"]
    list_select_related = ["recording"]

    @admin.display(description="audio")
    def player(self, clip):
        return format_html('<audio controls preload="none" src="{}"></audio>', clip.audio.url)
