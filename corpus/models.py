"""The corpus: where broadcast audio comes in and is cut into clips.

(core.Project) -> Source (a series or programme episode) -> Recording (one ingested file) ->
SegmentationRun (a VAD job, a row with status and progress) -> Clip (one utterance, its own WAV).
"""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.urls import reverse

from core.models import JobRow, Project


class Source(models.Model):
    """Provenance: the series or programme (and episode) a recording comes from."""

    class Kind(models.TextChoices):
        SERIES = "series", "TV series"
        PROGRAMME = "programme", "TV/radio programme"
        CORPUS = "corpus", "Imported labelled corpus"
        OTHER = "other", "Other"

    project = models.ForeignKey(Project, on_delete=models.PROTECT, related_name="sources")
    title = models.CharField(max_length=300)
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.SERIES)
    episode = models.CharField(max_length=100, blank=True)
    channel = models.CharField(max_length=200, blank=True)
    air_date = models.DateField(null=True, blank=True)
    url = models.URLField(max_length=1000, blank=True)
    licence_note = models.TextField(
        blank=True, help_text="Rights and licence under which the audio may be used."
    )
    dialect = models.CharField(max_length=100, blank=True, help_text="Blank means the project's dialect.")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["title", "episode"]
        constraints = [
            models.UniqueConstraint(fields=["project", "title", "episode"], name="source_unique_episode"),
        ]

    def __str__(self) -> str:
        return f"{self.title} — {self.episode}" if self.episode else self.title


class Recording(models.Model):
    class Status(models.TextChoices):
        DECODED = "decoded", "Decoded, awaiting segmentation"
        SEGMENTING = "segmenting", "Segmenting"
        SEGMENTED = "segmented", "Segmented"
        FAILED = "failed", "Failed"

    source = models.ForeignKey(Source, on_delete=models.PROTECT, related_name="recordings")
    # The source's project, kept on the row so that a file is unique per project (the same
    # episode may be ingested into two projects) and scoping needs no join.
    project = models.ForeignKey(Project, on_delete=models.PROTECT, related_name="recordings")
    # Indexed: the media route finds a file's owner by its storage name (core.files).
    original = models.FileField(upload_to="recordings/original/%Y/%m/", max_length=500, db_index=True)
    original_name = models.CharField(max_length=500)
    size_bytes = models.BigIntegerField()
    # Identity of the uploaded bytes: the same file twice in one project is recognised, not stored
    # twice (constraint recording_unique_file_per_project).
    sha256 = models.CharField(max_length=64, db_index=True)
    container = models.CharField(max_length=100, blank=True, help_text="Format as ffmpeg names it.")
    codec = models.CharField(max_length=100, blank=True)
    original_sample_rate = models.PositiveIntegerField(null=True, blank=True)
    original_channels = models.PositiveSmallIntegerField(null=True, blank=True)
    has_video = models.BooleanField(default=False)
    # Provenance of the decode (corpus.audio.decode_to_wav): every audio stream of the file, the
    # one used and why, how its channels became one, and what went wrong without stopping it.
    audio_tracks = models.JSONField(
        default=list, blank=True, help_text="Every audio stream: index, language, codec, channels, ..."
    )
    audio_track = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="The audio track decoded (position among the file's audio tracks)."
    )

    class TrackReason(models.TextChoices):
        REQUESTED = "requested", "named by the person who ingested it"
        LANGUAGE = "language", "in the project's language"
        DEFAULT = "default", "the file's default track"
        FIRST = "first", "the file's first track"
        ONLY = "only", "the file's only track"

    track_reason = models.CharField(max_length=20, blank=True, choices=TrackReason.choices)
    downmix = models.CharField(max_length=200, blank=True, help_text="How the channels became mono.")
    decode_warnings = models.JSONField(default=list, blank=True)
    # The normalised audio every later stage reads: 16 kHz mono 16-bit PCM WAV.
    normalised = models.FileField(
        upload_to="recordings/normalised/%Y/%m/", max_length=500, blank=True, db_index=True
    )
    duration_s = models.FloatField(null=True, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.DECODED, db_index=True)
    error = models.TextField(blank=True)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["project", "sha256"], name="recording_unique_file_per_project"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.original_name}"

    def get_absolute_url(self) -> str:
        return reverse("corpus:recording-detail", args=[self.pk])


class SegmentationRun(JobRow):
    """One voice-activity-detection job over one recording. The row is the job's state."""

    class Detector(models.TextChoices):
        WEBRTC = "webrtc", "WebRTC VAD"
        SILERO = "silero", "Silero VAD"

    recording = models.ForeignKey(Recording, on_delete=models.CASCADE, related_name="segmentation_runs")
    detector = models.CharField(max_length=20, choices=Detector.choices, default=Detector.WEBRTC)
    aggressiveness = models.PositiveSmallIntegerField(default=3, validators=[MaxValueValidator(3)])
    frame_ms = models.PositiveSmallIntegerField(
        default=30, choices=[(10, "10 ms"), (20, "20 ms"), (30, "30 ms")]
    )
    hangover_ms = models.PositiveIntegerField(default=300, help_text="Ring buffer (smoothing) length.")
    padding_ms = models.PositiveIntegerField(default=0, help_text="Padding added around each refined region.")
    merge_gap_ms = models.PositiveIntegerField(default=250, help_text="Pauses shorter than this are merged.")
    min_clip_s = models.FloatField(default=0.4, validators=[MinValueValidator(0.1)])
    max_clip_s = models.FloatField(default=15.0, validators=[MaxValueValidator(60.0)])
    silero_threshold = models.FloatField(
        default=0.5, validators=[MinValueValidator(0.0), MaxValueValidator(1.0)]
    )
    speech_gate = models.FloatField(
        default=0.5,
        validators=[MinValueValidator(0.0), MaxValueValidator(0.99)],
        help_text="webrtc detector: keep only what Silero VAD also calls speech at this probability "
        "(music, jingles and applause fall out); 0 turns the gate off.",
    )
    refine = models.BooleanField(
        default=True, help_text="Refine boundaries to voiced frames and energy onsets."
    )
    speaker_step = models.BooleanField(
        default=True,
        help_text="Cut regions at speaker changes and cluster the clips into speakers (resemblyzer "
        "speaker embeddings).",
    )
    n_speakers = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(50)],
        help_text="Speakers in this recording, when the curator knows; blank estimates it.",
    )

    n_regions = models.PositiveIntegerField(null=True, blank=True)
    n_clips_created = models.PositiveIntegerField(null=True, blank=True)
    n_clips_replaced = models.PositiveIntegerField(null=True, blank=True)
    n_clips_kept = models.PositiveIntegerField(null=True, blank=True)
    speech_s = models.FloatField(null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)

    n_speaker_changes = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Segmentation #{self.pk} of recording #{self.recording_id} ({self.status})"

    def speaker_params(self):
        """The speaker step's settings (corpus.speakers.SpeakerParams), or None when it is off."""
        if not self.speaker_step:
            return None
        from corpus.speakers import SpeakerParams

        return SpeakerParams(n_speakers=self.n_speakers)

    def vad_params(self):
        from corpus.vad import VadParams

        return VadParams(
            detector=self.detector,
            aggressiveness=self.aggressiveness,
            frame_ms=self.frame_ms,
            hangover_ms=self.hangover_ms,
            padding_ms=self.padding_ms,
            merge_gap_ms=self.merge_gap_ms,
            min_clip_s=self.min_clip_s,
            max_clip_s=self.max_clip_s,
            silero_threshold=self.silero_threshold,
            speech_gate=self.speech_gate,
            refine=self.refine,
        )


class Clip(models.Model):
    """One utterance cut from a recording, with its own 16 kHz mono WAV.

    Every clip starts awaiting validation. A clip that anybody has validated or labelled is
    never deleted or moved by re-segmentation (see corpus.policies).
    """

    class Status(models.TextChoices):
        AWAITING_VALIDATION = "awaiting_validation", "Awaiting validation"
        ACCEPTED = "accepted", "Accepted (in the labelling pool)"
        REJECTED = "rejected", "Rejected"
        LABELLED = "labelled", "Labelled"
        EXCLUDED = "excluded", "Excluded"

    recording = models.ForeignKey(Recording, on_delete=models.CASCADE, related_name="clips")
    segmentation_run = models.ForeignKey(
        SegmentationRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="clips"
    )
    start_s = models.FloatField()
    end_s = models.FloatField()
    duration_s = models.FloatField()
    audio = models.FileField(upload_to="clips/", max_length=500, db_index=True)  # see Recording.original
    level_dbfs = models.FloatField(help_text="RMS level in dBFS.")
    speech_ratio = models.FloatField(help_text="Share of voiced frames.")
    clipping_ratio = models.FloatField(help_text="Share of samples at full scale.")
    snr_db = models.FloatField(help_text="Estimated signal-to-noise ratio.")
    speech_prob = models.FloatField(
        null=True, blank=True, help_text="Silero VAD's mean speech probability over the clip (0-1)."
    )
    # Who speaks, when known (imported corpora name their actors); releases may group by it.
    speaker = models.CharField(max_length=100, blank=True, db_index=True)
    # Who speaks in broadcast audio: the speaker cluster of its recording (the speaker step), and
    # how sure the step is that one voice alone speaks in it.
    speaker_cluster = models.ForeignKey(
        "SpeakerCluster", null=True, blank=True, on_delete=models.SET_NULL, related_name="clips"
    )
    one_speaker_conf = models.FloatField(
        null=True,
        blank=True,
        help_text="Confidence (0-1) that one speaker alone talks in the clip: the lowest cosine "
        "similarity of its speaker-embedding windows to their mean.",
    )
    status = models.CharField(
        max_length=30, choices=Status.choices, default=Status.AWAITING_VALIDATION, db_index=True
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["recording_id", "start_s"]
        indexes = [
            # The recording page and re-segmentation list a recording's clips in time order.
            models.Index(fields=["recording", "start_s"], name="clip_recording_start"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(end_s__gt=models.F("start_s")), name="clip_end_after_start"
            ),
        ]

    def __str__(self) -> str:
        return f"Clip #{self.pk} ({self.start_s:.2f}–{self.end_s:.2f} s of recording #{self.recording_id})"

    @property
    def voice_key(self) -> str:
        """Who speaks, as speaker normalisation groups clips (`voice_key`); reads
        `speaker_cluster` (select_related it when listing)."""
        cluster = self.speaker_cluster
        return voice_key(
            speaker=self.speaker,
            series_speaker_id=cluster.series_speaker_id if cluster else None,
            cluster_id=self.speaker_cluster_id,
        )


# The fields `voice_key` reads, for values_list()/values() queries over clips.
VOICE_KEY_FIELDS = ("speaker", "speaker_cluster__series_speaker_id", "speaker_cluster_id")


def voice_key(*, speaker: str, series_speaker_id: int | None, cluster_id: int | None) -> str:
    """One key per voice, for grouping clips by who speaks: "speaker:<name>" for a speaker an
    imported corpus named, else "voice:<id>" for the series speaker (the voice across episodes)
    of the clip's speaker cluster, else "cluster:<id>" for the cluster alone (one recording),
    else "" (unknown: no speaker step ran). Names and ids are the project's own: keys are never
    compared across projects."""
    if speaker:
        return f"speaker:{speaker}"
    if series_speaker_id:
        return f"voice:{series_speaker_id}"
    if cluster_id:
        return f"cluster:{cluster_id}"
    return ""


class SeriesSpeaker(models.Model):
    """One voice across the episodes of a series (a Source title within a project): the clusters
    of several recordings linked by centroid similarity, named by a curator ("Sbouï", "Fatma").

    Survives re-segmentation: a recording's clusters are derived data, re-made by each run and
    re-linked to these by similarity; a curator's names, merges and splits live here.
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="series_speakers")
    series = models.CharField(max_length=300, help_text="The Source title the voice belongs to.")
    name = models.CharField(max_length=100, blank=True, help_text="Given by a curator; blank: unnamed.")
    centroid = models.JSONField(default=list, help_text="Mean L2-normalised speaker embedding (256).")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["series", "id"]
        indexes = [models.Index(fields=["project", "series"], name="seriesspeaker_series")]

    def __str__(self) -> str:
        return self.name or f"{self.series} voice #{self.pk}"

    @property
    def label(self) -> str:
        return self.name or f"voice {self.pk}"


class SpeakerCluster(models.Model):
    """The clips of one recording that one voice speaks (agglomerative clustering of their
    speaker embeddings; see corpus.speakers). Re-made by each segmentation run."""

    recording = models.ForeignKey(Recording, on_delete=models.CASCADE, related_name="speaker_clusters")
    segmentation_run = models.ForeignKey(
        SegmentationRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="speaker_clusters"
    )
    index = models.PositiveSmallIntegerField(help_text="1-based, by total speech, longest first.")
    label = models.CharField(max_length=400, help_text='E.g. "S01E03-spk2".')
    centroid = models.JSONField(default=list, help_text="Mean L2-normalised speaker embedding (256).")
    total_speech_s = models.FloatField(default=0.0)
    clip_count = models.PositiveIntegerField(default=0)
    series_speaker = models.ForeignKey(
        SeriesSpeaker, null=True, blank=True, on_delete=models.SET_NULL, related_name="clusters"
    )

    class Meta:
        ordering = ["recording_id", "index"]
        constraints = [
            models.UniqueConstraint(fields=["recording", "index"], name="speakercluster_unique_index"),
        ]

    def __str__(self) -> str:
        return self.label

    @property
    def display(self) -> str:
        """The cluster as pages show it: its series speaker's name when a curator gave one."""
        if self.series_speaker_id and self.series_speaker.name:
            return f"{self.series_speaker.name} ({self.label})"
        return self.label
