"""Writes of the corpus: ingestion and segmentation.

Every way in (upload page, admin, REST API, `manage.py ingest`) calls `recording_ingest`; every
segmentation (after ingestion, or on demand with other parameters) is a SegmentationRun row
executed by `segmentation_run_execute` in a Celery task on the `audio` queue.
"""

from __future__ import annotations

import hashlib
import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files import File
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.utils.text import slugify

from core import jobs
from core.constants import SAMPLE_RATE
from core.errors import ApplicationError
from core.models import Project
from corpus import audio, policies, vad
from corpus.models import Clip, Recording, SegmentationRun, SeriesSpeaker, Source, SpeakerCluster

logger = logging.getLogger(__name__)


class IngestRejected(ApplicationError):
    """Input refused before anything was stored (missing, empty, too large, no audio stream).

    The platform's one error type (core.errors), named so that batch callers (the CLI, corpus
    imports) can report a refused file and go on: 413 for a file over the size limit, 415 for a
    file in which ffmpeg finds no audio stream, else 400.
    """

    STATUS = {"too_large": 413, "no_audio": 415}

    def __init__(self, message: str, *, code: str):
        super().__init__(message, code=code, status=self.STATUS.get(code, 400))


@dataclass(frozen=True)
class IngestResult:
    """What `recording_ingest` did with one file: the Recording it stored or found again."""

    recording: Recording
    duplicate: bool  # the same bytes were ingested before: `recording` is that earlier one

    @property
    def failed(self) -> bool:
        """True if the file was stored but did not decode (status failed, reason in `error`)."""
        return self.recording.status == Recording.Status.FAILED


def _config(key: str):
    return settings.TUNISER[key]


def source_get_or_create(
    *, project: Project, title: str, episode: str = "", created_by=None, **fields
) -> Source:
    """The project's Source (series or programme, and episode) of that title, created if new.

    Args:
        project: the project the source belongs to.
        title: the series or programme; surrounding whitespace is stripped.
        episode: the episode ("" for none); stripped. (project, title, episode) is unique.
        created_by: the user recorded on a new source.
        fields: more Source columns, used only when the source is created.
    Returns:
        The existing or new Source.
    Raises:
        ValidationError ({"source": ...}): an empty title.
    """
    title = (title or "").strip()
    if not title:
        raise ValidationError({"source": "A source title (the series or programme) is required."})
    source, _ = Source.objects.get_or_create(
        project=project,
        title=title,
        episode=(episode or "").strip(),
        defaults={"created_by": created_by, **fields},
    )
    return source


def upload_check(*, name: str, size: int) -> None:
    """Refuse, before anything is stored, a file that is empty or over the size limit.

    The type is not judged by the name: the extension is only a hint, and content decides
    (`recording_ingest` refuses a file in which ffmpeg finds no audio stream).

    Args:
        name: the file name (for the message).
        size: its size in bytes; at most TUNISER_MAX_UPLOAD_MB MiB.
    Raises:
        IngestRejected: 400 `empty` (0 bytes), 413 `too_large`.
    """
    if size == 0:
        raise IngestRejected(f"'{name}' is empty (0 bytes).", code="empty")
    limit = _config("MAX_UPLOAD_BYTES")
    if size > limit:
        raise IngestRejected(
            f"'{name}' is {size / 2**20:.1f} MiB, over the limit of {limit / 2**20:.0f} MiB "
            "(TUNISER_MAX_UPLOAD_MB).",
            code="too_large",
        )


def audio_probe_or_reject(*, local: Path, name: str, audio_track: int | None = None) -> audio.ProbeResult:
    """Probe a file's streams; refuse, storing nothing, a file with no audio stream.

    Args:
        local: the local file.
        name: its name, for the messages.
        audio_track: the audio track the user asked for (position among audio tracks), if any.
    Returns:
        The ProbeResult (every audio track in `tracks`).
    Raises:
        IngestRejected: 415 `no_audio` (ffmpeg recognises no media in it, or a media file with
            no audio stream: a subtitle file, a picture, a silent video); 400 `no_such_track`.
    """
    try:
        info = audio.probe(local)
    except audio.AudioError as exc:
        raise IngestRejected(f"'{name}': {exc}", code="no_audio") from exc
    if not info.tracks:
        what = "a video with no audio track" if info.has_video else f"a {info.container or 'media'} file"
        raise IngestRejected(
            f"'{name}' has no audio stream ({what}): there is nothing to segment.", code="no_audio"
        )
    if audio_track is not None and not 0 <= audio_track < len(info.tracks):
        have = ", ".join(f"{t.position} ({t.language or 'no language'})" for t in info.tracks)
        raise IngestRejected(
            f"'{name}' has no audio track {audio_track}; its tracks are: {have}.", code="no_such_track"
        )
    return info


def upload_refuse_early(*, upload, audio_track: int | None = None) -> None:
    """Refuse, before anything is written (not even its Source), an upload that is empty, over
    the size limit, or has no audio stream (or not the track asked for).

    A large upload is already a temporary file (probed in place); a small one is spooled to one.

    Raises:
        IngestRejected: as `upload_check` and `audio_probe_or_reject`.
    """
    upload_check(name=upload.name, size=upload.size)
    if hasattr(upload, "temporary_file_path"):
        audio_probe_or_reject(
            local=Path(upload.temporary_file_path()), name=upload.name, audio_track=audio_track
        )
        return
    with tempfile.NamedTemporaryFile(suffix=Path(upload.name).suffix.lower()) as tmp:
        for chunk in upload.chunks():
            tmp.write(chunk)
        tmp.flush()
        audio_probe_or_reject(local=Path(tmp.name), name=upload.name, audio_track=audio_track)
    upload.seek(0)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def recording_ingest(
    *,
    source: Source,
    path: Path | None = None,
    upload=None,
    original_name: str | None = None,
    uploaded_by=None,
    segment: bool | None = None,
    audio_track: int | None = None,
) -> IngestResult:
    """Bring one file in: check it, recognise duplicates, decode it to 16 kHz mono, store it.

    1. Refuse, storing nothing, a missing, empty or over-size file (IngestRejected).
    2. Hash the bytes; the same file seen before in the project is returned as a duplicate.
    3. Probe its streams; refuse a file with no audio stream (content decides, not the name).
    4. Decode (outside any transaction: slow) the chosen audio track (the one asked for, else
       one in the project's languages, else the default-flagged, else the first) to a temporary
       16 kHz mono 16-bit WAV, with a downmix that cannot cancel speech.
    5. Store the original and, if decoding worked, the WAV; write the Recording row with the
       decode's provenance (tracks, track used and why, downmix, warnings). A file that does not
       decode is kept with status failed and its error, and is never segmented.
    6. Queue a SegmentationRun after commit (unless segment=False).
    Give either `path` (a local file) or `upload` (a Django UploadedFile).

    Args:
        source: the Source (and so the project) the recording belongs to.
        path: a local file to ingest (read in place, not moved).
        upload: a Django UploadedFile (spooled to a temporary file if it is in memory).
        original_name: the name to record and check the extension of; default the file's name.
        uploaded_by: the user recorded on the Recording and the SegmentationRun.
        segment: queue a segmentation; None follows TUNISER_AUTO_SEGMENT.
        audio_track: the audio track to decode (position among the file's audio tracks).
    Returns:
        IngestResult: the new Recording (status decoded, or failed with `error`), or, with
        duplicate=True, the Recording of the same SHA-256 stored earlier in the same project
        (the same file may be ingested into two projects), its `source` selected.
    Raises:
        TypeError: both or neither of `path` and `upload`.
        IngestRejected: 400 `not_found` (path is not a file), 400 `empty`, 413 `too_large`
            (see `upload_check`), 415 `no_audio`, 400 `no_such_track` (see
            `audio_probe_or_reject`). A file whose audio does not decode is not an error: it is
            stored with status failed.
        ValidationError: from `segmentation_run_create`, for invalid configured VAD defaults.
    """
    if (path is None) == (upload is None):
        raise TypeError("recording_ingest takes exactly one of path= or upload=")
    with tempfile.TemporaryDirectory(prefix="tuniser-ingest-") as tmp:
        tmpdir = Path(tmp)
        if path is not None:
            path = Path(path)
            if not path.is_file():
                raise IngestRejected(f"'{path}' does not exist or is not a file.", code="not_found")
            name = original_name or path.name
            upload_check(name=name, size=path.stat().st_size)
            local = path
        else:
            name = original_name or upload.name
            upload_check(name=name, size=upload.size)
            if hasattr(upload, "temporary_file_path"):
                local = Path(upload.temporary_file_path())
            else:
                local = tmpdir / f"upload{Path(name).suffix.lower()}"
                with open(local, "wb") as fh:
                    for chunk in upload.chunks():
                        fh.write(chunk)
        sha = _sha256(local)
        existing = (
            Recording.objects.filter(project_id=source.project_id, sha256=sha)
            .select_related("source")
            .first()
        )
        if existing:
            return IngestResult(recording=existing, duplicate=True)

        info = audio_probe_or_reject(local=local, name=name, audio_track=audio_track)
        wav = tmpdir / "normalised.wav"
        decoded, error = None, ""
        try:
            decoded = audio.decode_to_wav(
                local,
                wav,
                timeout_s=_config("DECODE_TIMEOUT_S"),
                track=audio_track,
                languages=source.project.language_codes,
                info=info,
            )
        except audio.AudioError as exc:
            error = str(exc)
        return _recording_store(
            source=source,
            local=local,
            name=name,
            sha=sha,
            wav=None if error else wav,
            probe=info,
            decoded=decoded,
            error=error,
            uploaded_by=uploaded_by,
            segment=_config("AUTO_SEGMENT") if segment is None else segment,
        )


def recording_redecode(*, recording: Recording, audio_track: int, created_by=None) -> Recording:
    """Decode a recording again from its original, with another audio track, and segment it.

    1. Refuse while a segmentation of it is queued or running, and when any of its clips
       carries somebody's work (votes, labels, decisions: that work was done on the audio of
       the track in use, which must not change under it).
    2. Probe the stored original and decode the named track (outside any transaction: slow).
    3. In one transaction: store the new normalised WAV and the decode's provenance on the row,
       and queue a segmentation (which replaces the clips, none of which carries work).
    4. Delete the old normalised WAV once the row points to the new one.

    Args:
        recording: the recording (its original file is kept for exactly this).
        audio_track: the track to use, a position among the file's audio tracks.
        created_by: the user recorded on the new segmentation run.
    Returns:
        The recording, refreshed.
    Raises:
        ApplicationError 409 (`busy`, `has_work`); IngestRejected 400 (`no_such_track`) or 415.
        The decode itself failing leaves the recording as it was and raises ApplicationError
        422 (`undecodable`) with the decoder's reason.
    """
    if recording.segmentation_runs.filter(
        status__in=[SegmentationRun.Status.QUEUED, SegmentationRun.Status.RUNNING]
    ).exists():
        raise ApplicationError(
            "A segmentation of this recording is queued or running: wait for it to finish.",
            code="busy",
            status=409,
        )
    _, protected = _protected_spans(recording)
    if protected:
        raise ApplicationError(
            f"{len(protected)} clip(s) of this recording already carry validation or labels, done on "
            "the audio of the track in use: it cannot change under them.",
            code="has_work",
            status=409,
        )
    with tempfile.TemporaryDirectory(prefix="tuniser-redecode-") as tmp:
        tmpdir = Path(tmp)
        local = tmpdir / f"original{Path(recording.original.name).suffix.lower()}"
        with default_storage.open(recording.original.name, "rb") as src, open(local, "wb") as dst:
            for chunk in iter(lambda: src.read(1 << 20), b""):
                dst.write(chunk)
        info = audio_probe_or_reject(local=local, name=recording.original_name, audio_track=audio_track)
        wav = tmpdir / "normalised.wav"
        try:
            decoded = audio.decode_to_wav(
                local, wav, timeout_s=_config("DECODE_TIMEOUT_S"), track=audio_track, info=info
            )
        except audio.AudioError as exc:
            raise ApplicationError(str(exc), code="undecodable", status=422) from exc
        stem = slugify(Path(recording.original_name).stem)[:60] or "recording"
        with open(wav, "rb") as fh:
            key = default_storage.save(
                f"recordings/normalised/{recording.sha256[:2]}/{stem}-track{audio_track}.wav", File(fh)
            )
    old = recording.normalised.name
    try:
        with transaction.atomic():
            Recording.objects.filter(pk=recording.pk).update(
                normalised=key, status=Recording.Status.DECODED, error="", **decode_provenance(info, decoded)
            )
            recording.refresh_from_db()
            segmentation_run_create(recording=recording, created_by=created_by)
    except BaseException:
        default_storage.delete(key)
        raise
    if old and old != key:
        default_storage.delete(old)
    recording.refresh_from_db()
    return recording


def decode_provenance(probe: audio.ProbeResult, decoded: audio.Decoded | None) -> dict:
    """The Recording fields that say how a file was decoded: container, the track used (its
    codec, rate, channels), every track, why that one, the downmix and warnings, the duration."""
    track = decoded.track if decoded and decoded.track else (probe.tracks[0] if probe.tracks else None)
    return {
        "container": probe.container,
        "codec": track.codec if track else (probe.audio_codec or ""),
        "original_sample_rate": track.sample_rate if track else probe.sample_rate,
        "original_channels": track.channels if track else probe.channels,
        "has_video": probe.has_video,
        "audio_tracks": [t.as_dict() for t in probe.tracks],
        "audio_track": decoded.track.position if decoded and decoded.track else None,
        "track_reason": decoded.track_reason if decoded else "",
        "downmix": decoded.downmix if decoded else "",
        "decode_warnings": list(decoded.warnings) if decoded else [],
        "duration_s": decoded.duration_s if decoded else None,
    }


class _ScratchFile(File):
    """A scratch file of ours that a file-system storage may move into place instead of copying
    (Django's FileSystemStorage moves what names a `temporary_file_path`); other storages read it."""

    def temporary_file_path(self) -> str:
        return self.file.name


def _recording_store(
    *, source, local, name, sha, wav, probe, decoded, error, uploaded_by, segment
) -> IngestResult:
    stem = slugify(Path(name).stem)[:60] or "recording"
    stored: list[str] = []
    try:
        with open(local, "rb") as fh:
            stored.append(
                default_storage.save(
                    f"recordings/original/{sha[:2]}/{stem}{Path(name).suffix.lower()}", File(fh)
                )
            )
        if wav is not None:
            with open(wav, "rb") as fh:
                stored.append(
                    default_storage.save(f"recordings/normalised/{sha[:2]}/{stem}.wav", _ScratchFile(fh))
                )
        with transaction.atomic():
            recording = Recording.objects.create(
                source=source,
                project_id=source.project_id,
                original=stored[0],
                normalised=stored[1] if wav is not None else "",
                original_name=name,
                size_bytes=Path(local).stat().st_size,
                sha256=sha,
                **decode_provenance(probe, decoded),
                status=Recording.Status.FAILED if error else Recording.Status.DECODED,
                error=error,
                uploaded_by=uploaded_by,
            )
            if not error and segment:
                segmentation_run_create(recording=recording, created_by=uploaded_by)
    except IntegrityError:
        # The same bytes were ingested concurrently by someone else between our check and insert.
        for key in stored:
            default_storage.delete(key)
        existing = Recording.objects.filter(project_id=source.project_id, sha256=sha).first()
        if existing is None:
            raise
        return IngestResult(recording=existing, duplicate=True)
    except BaseException:
        for key in stored:
            default_storage.delete(key)
        raise
    return IngestResult(recording=recording, duplicate=False)


# --- Segmentation -------------------------------------------------------------------------------

PARAM_FIELDS = (
    "detector",
    "aggressiveness",
    "frame_ms",
    "hangover_ms",
    "padding_ms",
    "merge_gap_ms",
    "min_clip_s",
    "max_clip_s",
    "silero_threshold",
    "speech_gate",
    "refine",
    "speaker_step",
    "n_speakers",
)


def segmentation_defaults() -> dict:
    """The configured segmentation parameters (TUNISER_VAD_DETECTOR, _VAD_AGGRESSIVENESS,
    _VAD_FRAME_MS in ms, _VAD_SPEECH_GATE, _MIN_CLIP_S and _MAX_CLIP_S in seconds,
    _SPEAKER_STEP), keyed as SegmentationRun fields; the other PARAM_FIELDS keep their model
    defaults."""
    return {
        "detector": _config("VAD_DETECTOR"),
        "aggressiveness": _config("VAD_AGGRESSIVENESS"),
        "frame_ms": _config("VAD_FRAME_MS"),
        "speech_gate": _config("VAD_SPEECH_GATE"),
        "min_clip_s": _config("MIN_CLIP_S"),
        "max_clip_s": _config("MAX_CLIP_S"),
        "speaker_step": _config("SPEAKER_STEP"),
    }


def segmentation_run_create(
    *, recording: Recording, created_by=None, enqueue: bool = True, **params
) -> SegmentationRun:
    """Create a segmentation of `recording` with `params` over the configured defaults, and queue
    it on the `audio` queue after commit (enqueue=False: the caller executes it in-process).

    Args:
        recording: the recording to segment; it must have a normalised WAV.
        created_by: the user recorded on the run.
        enqueue: queue `corpus.tasks.segment_recording` after commit.
        params: any of PARAM_FIELDS (milliseconds for the `*_ms` fields, seconds for
            `min_clip_s`/`max_clip_s`), over `segmentation_defaults()`.
    Returns:
        The saved SegmentationRun (status queued).
    Raises:
        ValidationError: an unknown parameter; a recording that failed to decode; parameters
            that `VadParams.validate` or the model's `full_clean` refuse; a run of this
            recording already queued or running (checked under a row lock on the recording).
    """
    unknown = set(params) - set(PARAM_FIELDS)
    if unknown:
        raise ValidationError(f"Unknown segmentation parameter(s): {', '.join(sorted(unknown))}.")
    if recording.status == Recording.Status.FAILED and not recording.normalised:
        raise ValidationError(
            f"Recording #{recording.pk} failed to decode ({recording.error}); it cannot be segmented."
        )
    run = SegmentationRun(recording=recording, created_by=created_by, **{**segmentation_defaults(), **params})
    try:
        run.vad_params().validate()
    except ValueError as exc:
        raise ValidationError(str(exc)) from exc
    run.full_clean(exclude=["recording", "created_by"])
    with transaction.atomic():
        # Lock the recording so two requests cannot queue two runs side by side.
        Recording.objects.select_for_update().filter(pk=recording.pk).first()
        busy = recording.segmentation_runs.filter(
            status__in=[SegmentationRun.Status.QUEUED, SegmentationRun.Status.RUNNING]
        ).first()
        if busy:
            raise ValidationError(
                f"Segmentation #{busy.pk} of this recording is already {busy.status}; wait for it to finish."
            )
        run.save()
        if enqueue:
            from corpus.tasks import segment_recording

            transaction.on_commit(lambda: segment_recording.delay(run.pk))
    return run


def _overlaps(start: float, end: float, spans: list[tuple[float, float]]) -> bool:
    return any(start < e and s < end for s, e in spans)


def _protected_spans(recording: Recording) -> tuple[list[tuple[float, float]], set[int]]:
    """Clips of `recording` that re-segmentation must leave alone, and their time spans."""
    clips = Clip.objects.filter(recording=recording)
    protected = set(clips.exclude(status=Clip.Status.AWAITING_VALIDATION).values_list("id", flat=True))
    protected |= policies.clip_ids_with_work(clips)
    spans = list(clips.filter(id__in=protected).values_list("start_s", "end_s"))
    return spans, protected


def segmentation_run_execute(*, run_id: int) -> bool:
    """Run one queued segmentation. Returns False if the run was not ours to take.

    Args:
        run_id: the SegmentationRun's id.
    Returns:
        True if this call ran the job, whatever its outcome (read it on the row), False if it
        was finished or running elsewhere. Errors are recorded on the row, not raised.

    1. Claim the row (core.jobs: QUEUED -> RUNNING, or a stale RUNNING one): a redelivered
       message does nothing twice.
    2. Read the normalised WAV and detect speech regions (progress 0 -> 60 %).
    3. Write each region's WAV through the storage API, skipping regions that overlap a clip
       somebody has validated or labelled (60 -> 95 %). Slow work stays outside transactions.
    4. In one transaction: delete the replaceable clips (awaiting validation, nobody's work),
       insert the new ones, record the counts and mark the run succeeded.
    On any error the run is marked failed with its traceback, the files it wrote are deleted,
    and the recording's existing clips are untouched.
    """
    written: list[str] = []

    def segment(run: SegmentationRun, progress: jobs.JobProgress) -> None:
        recording = run.recording
        Recording.objects.filter(pk=recording.pk).update(status=Recording.Status.SEGMENTING)
        params = run.vad_params()
        with default_storage.open(recording.normalised.name, "rb") as fh:
            samples = audio.read_pcm16(fh)
        # Frame the recording once; detection and every clip's quality figures share it.
        # Silero runs beside webrtcvad from the start: every clip stores its speech probability
        analysis = vad.analyse(samples, SAMPLE_RATE, params, prefetch_silero=True)
        regions = analysis.detect_regions(params, progress=lambda f: progress(0.5 * f))
        speaker_params = run.speaker_params()
        step = None
        if speaker_params is not None and regions:
            step = _speaker_step(analysis.samples, regions, vad_params=params, speaker_params=speaker_params)
            regions = step.regions
        progress(0.6)
        spans, protected_ids = _protected_spans(recording)
        segment = audio.pcm16_segment(samples)
        new_clips: list[Clip] = []
        new_embeddings: list[np.ndarray] = []
        for i, region in enumerate(regions):
            if _overlaps(region.start, region.end, spans):
                continue
            quality = analysis.clip_quality(region.start, region.end, params)
            key = f"clips/{recording.pk}/run{run.pk}/{i:05d}_{int(region.start * 1000):08d}.wav"
            default_storage.delete(key)  # left by a dead attempt of this same run
            key = default_storage.save(
                key, ContentFile(audio.clip_wav_bytes(segment, region.start, region.end))
            )
            written.append(key)
            new_clips.append(
                Clip(
                    recording=recording,
                    segmentation_run=run,
                    start_s=round(region.start, 4),
                    end_s=round(region.end, 4),
                    duration_s=round(region.end - region.start, 4),
                    audio=key,
                    level_dbfs=float(quality["level_dbfs"]),
                    speech_ratio=float(quality["speech_ratio"]),
                    clipping_ratio=float(quality["clipping_ratio"]),
                    snr_db=float(quality["snr_db"]),
                    speech_prob=round(analysis.speech_probability(region.start, region.end), 3),
                    one_speaker_conf=round(step.confidence[i], 3) if step else None,
                )
            )
            if step:
                new_embeddings.append(step.embeddings[i])
            progress(0.6 + 0.3 * (i + 1) / max(len(regions), 1))
        plan = None
        if step is not None:
            plan = _speaker_clusters_plan(
                samples=analysis.samples,
                recording=recording,
                new_clips=new_clips,
                new_embeddings=new_embeddings,
                protected_ids=protected_ids,
                speaker_params=speaker_params,
            )
        progress(0.95)
        old_files = _segmentation_commit(
            run=run,
            recording=recording,
            new_clips=new_clips,
            n_regions=len(regions),
            plan=plan,
            n_speaker_changes=step.n_changes if step else None,
        )
        for key in old_files:
            default_storage.delete(key)

    def clean_up(run: SegmentationRun, exc: BaseException) -> None:
        for key in written:
            default_storage.delete(key)
        _recording_after_failure(run, jobs.failure_message(exc))

    return jobs.job_execute(
        SegmentationRun, run_id, segment, claim_fields={"progress": 0.0}, on_failure=clean_up
    )


def _segmentation_commit(
    *, run, recording, new_clips, n_regions, plan=None, n_speaker_changes=None
) -> list[str]:
    with transaction.atomic():
        Recording.objects.select_for_update().filter(pk=recording.pk).first()
        # Re-read inside the transaction: a validator may have voted while the files were written.
        spans, protected = _protected_spans(recording)
        replaceable = Clip.objects.filter(recording=recording).exclude(id__in=protected)
        old_files = list(replaceable.values_list("audio", flat=True))
        n_replaced = replaceable.count()
        replaceable.delete()
        late = [c for c in new_clips if _overlaps(c.start_s, c.end_s, spans)]
        keep = [c for c in new_clips if c not in late]
        if plan is not None:
            _speaker_clusters_write(run=run, recording=recording, plan=plan, protected=protected, keep=keep)
        else:  # clusters describe the clips of the run that made them: none with the step off
            SpeakerCluster.objects.filter(recording=recording).delete()
        Clip.objects.bulk_create(keep, batch_size=500)
        policies.clips_created(list(Clip.objects.filter(segmentation_run=run).values_list("pk", flat=True)))
        jobs.job_succeed(
            SegmentationRun,
            run.pk,
            n_regions=n_regions,
            n_clips_created=len(keep),
            n_clips_replaced=n_replaced,
            n_clips_kept=len(protected),
            speech_s=round(float(np.sum([c.duration_s for c in keep])) if keep else 0.0, 3),
            n_speaker_changes=n_speaker_changes,
        )
        Recording.objects.filter(pk=recording.pk).update(status=Recording.Status.SEGMENTED, error="")
    for clip in late:
        default_storage.delete(clip.audio.name)
    return old_files


@dataclass(frozen=True)
class SpeakerStep:
    """What the speaker step made of a recording's speech regions.

    regions: the pieces (vad.Region, seconds), each 0.4-15 s (the run's clip length rules).
    confidence: per piece, the confidence (0-1) that one speaker alone talks in it.
    embeddings: float32 (n_pieces, 256), each piece's L2-normalised speaker embedding.
    n_changes: speaker changes found inside the regions (cuts made).
    """

    regions: list
    confidence: list[float]
    embeddings: np.ndarray
    n_changes: int


def _speaker_step(samples: np.ndarray, regions: list, *, vad_params, speaker_params) -> SpeakerStep:
    """Cut speech regions at speaker changes (corpus.speakers; resemblyzer embeddings).

    Args:
        samples: float32 (n,), the recording at 16 kHz mono.
        regions: the VAD's regions (vad.Region, seconds).
        vad_params: the run's VadParams (its min_clip_s / max_clip_s bound the pieces).
        speaker_params: the run's corpus.speakers.SpeakerParams.
    Returns:
        SpeakerStep.
    """
    from corpus import speakers

    spans = [(r.start, r.end) for r in regions]
    pieces = speakers.speaker_pieces(
        samples, spans, params=speaker_params, min_s=vad_params.min_clip_s, max_s=vad_params.max_clip_s
    )
    return SpeakerStep(
        regions=[vad.Region(p.start, p.end) for p in pieces.pieces],
        confidence=[p.confidence for p in pieces.pieces],
        embeddings=pieces.embeddings,
        n_changes=pieces.n_changes,
    )


@dataclass(frozen=True)
class _ClusterPlan:
    """Clusters to write: per cluster (1-based index, longest speech first) its centroid and the
    new clips (objects) and protected clips (ids) it holds."""

    clusters: list[dict]


def speaker_label_prefix(recording: Recording) -> str:
    """What a recording's speaker clusters are called before "-spk<n>", readable and unique in
    its project: "<series> <episode>" ("Nsibti S01E03"), or "<series> <file stem>" for a
    recording with no episode (four RAVDESS files: "RAVDESS 03-01-05-01-01-01-01"). When
    another recording of the project has the same series and episode (or, with no episode, the
    same file name), the recording's id follows: "Nsibti S01E03#12"."""
    source = recording.source
    stem = Path(recording.original_name or "").stem
    part = source.episode or stem or f"rec{recording.pk}"
    name = f"{source.title} {part}" if source.title and source.title != part else part
    twins = Recording.objects.filter(
        project_id=recording.project_id, source__title=source.title, source__episode=source.episode
    ).exclude(pk=recording.pk)
    if not source.episode:
        twins = twins.filter(original_name=recording.original_name)
    if twins.exists():
        name = f"{name}#{recording.pk}"
    return name


def _speaker_clusters_plan(
    *, samples, recording, new_clips, new_embeddings, protected_ids, speaker_params
) -> _ClusterPlan:
    """Cluster the recording's clips into speakers: the new clips with their step embeddings,
    and the clips kept from earlier runs (people's work) embedded here. Slow work: outside any
    transaction."""
    from corpus import speakers

    kept = list(
        Clip.objects.filter(pk__in=protected_ids).order_by("start_s").values_list("pk", "start_s", "end_s")
    )
    vectors = list(new_embeddings) + [speakers.clip_embedding(samples, a, b) for _, a, b in kept]
    members: list[tuple[str, object, float]] = [("new", c, c.duration_s) for c in new_clips]
    members += [("kept", pk, b - a) for pk, a, b in kept]
    if not vectors:
        return _ClusterPlan([])
    matrix = np.asarray(vectors, dtype=np.float32)
    labels = speakers.cluster_speakers(matrix, params=speaker_params)
    groups: dict[int, list[int]] = {}
    for k, label in enumerate(labels):
        groups.setdefault(int(label), []).append(k)
    ordered = sorted(groups.values(), key=lambda ks: -sum(members[k][2] for k in ks))
    name = speaker_label_prefix(recording)
    clusters = []
    for index, ks in enumerate(ordered, start=1):
        clusters.append(
            {
                "index": index,
                "label": f"{name}-spk{index}"[:400],
                "centroid": _unit(matrix[ks]),
                "total_speech_s": round(float(sum(members[k][2] for k in ks)), 3),
                "new": [members[k][1] for k in ks if members[k][0] == "new"],
                "kept": [members[k][1] for k in ks if members[k][0] == "kept"],
            }
        )
    return _ClusterPlan(clusters)


def _speaker_clusters_write(*, run, recording, plan: _ClusterPlan, protected: set[int], keep: list) -> None:
    """Replace the recording's clusters by the plan's (inside the commit's transaction): new
    clips get their cluster before they are inserted, kept clips are pointed at theirs, and the
    clusters are linked to the series' speakers."""
    SpeakerCluster.objects.filter(recording=recording).delete()
    inserted = {id(clip) for clip in keep}  # new clips a validator's late vote did not displace
    created = []
    for c in plan.clusters:
        kept = [pk for pk in c["kept"] if pk in protected]
        new = [clip for clip in c["new"] if id(clip) in inserted]
        if not new and not kept:
            continue
        cluster = SpeakerCluster.objects.create(
            recording=recording,
            segmentation_run=run,
            index=c["index"],
            label=c["label"],
            centroid=c["centroid"],
            total_speech_s=c["total_speech_s"],
            clip_count=len(new) + len(kept),
        )
        for clip in new:
            clip.speaker_cluster = cluster
        Clip.objects.filter(pk__in=kept).update(speaker_cluster=cluster)
        created.append(cluster)
    _series_speakers_link(recording=recording, clusters=created)


def segmentation_run_given_up(*, pk: int, error: str) -> None:
    """Clean up after core.jobs gave up segmentation `pk` (its worker was lost at every attempt).

    The WAVs its attempts wrote (never committed as clips) are deleted, and the recording is left
    as after any failed segmentation.

    Args:
        pk: the SegmentationRun's id.
        error: the reason written on the run.
    """
    run = SegmentationRun.objects.filter(pk=pk).first()
    if run is None:
        return
    folder = f"clips/{run.recording_id}/run{run.pk}"
    try:
        _, names = default_storage.listdir(folder)
    except FileNotFoundError:
        names = []
    for name in names:
        default_storage.delete(f"{folder}/{name}")
    _recording_after_failure(run, error)


def _recording_after_failure(run: SegmentationRun, error: str) -> None:
    """A failed segmentation leaves the recording segmented if an earlier run made clips, else
    failed with the reason."""
    has_clips = Clip.objects.filter(recording_id=run.recording_id).exists()
    Recording.objects.filter(pk=run.recording_id).update(
        status=Recording.Status.SEGMENTED if has_clips else Recording.Status.FAILED,
        error="" if has_clips else f"Segmentation failed: {error[:500]}",
    )


def ingest_paths(paths: list[Path]) -> tuple[list[Path], list[str]]:
    """Expand files and folders (recursively) into the files to ingest; report missing paths.

    Args:
        paths: files and folders, as given on the command line (`manage.py ingest`).
    Returns:
        (files, missing): the files in the order given, each folder expanded to its files with
        an allowed extension (TUNISER_ALLOWED_EXTENSIONS), sorted by path; and the arguments
        that are neither a file nor a folder, as given. A file named directly is not filtered
        by type (`recording_ingest` refuses it).
    """
    files: list[Path] = []
    missing: list[str] = []
    allowed = set(_config("ALLOWED_EXTENSIONS"))
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files.extend(
                sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower().lstrip(".") in allowed)
            )
        elif path.is_file():
            files.append(path)
        else:
            missing.append(str(raw))
    return files, missing


def clip_create_whole(
    *, recording: Recording, speaker: str = "", status: str = Clip.Status.AWAITING_VALIDATION
) -> Clip:
    """One clip spanning a whole recording (an imported corpus utterance is already one clip).

    The clip gets its own WAV and the same quality figures as a segmented clip (computed with
    the default `VadParams`). Runs inside the caller's transaction; writes its file first and
    removes it if the row cannot be written. Sets the recording's status to segmented; a clip
    awaiting validation is announced to `policies.clips_created`.

    Args:
        recording: a recording with a normalised 16 kHz mono WAV.
        speaker: the speaker label, if the corpus names one.
        status: the clip's status (an imported, already-validated utterance may enter accepted).
    Returns:
        The new Clip (start 0.0, end and duration in seconds, rounded to 4 places).
    Raises:
        AudioError: the normalised WAV is not 16 kHz mono.
        ValueError: the recording has no samples (from `clip_quality`).
    """
    with default_storage.open(recording.normalised.name, "rb") as fh:
        samples = audio.read_pcm16(fh)
    end = len(samples) / SAMPLE_RATE
    params = vad.VadParams()
    quality = vad.analyse(samples, SAMPLE_RATE, params).clip_quality(0.0, end, params)
    key = default_storage.save(
        f"clips/{recording.pk}/whole.wav",
        ContentFile(audio.clip_wav_bytes(audio.pcm16_segment(samples), 0.0, end)),
    )
    try:
        clip = Clip.objects.create(
            recording=recording,
            start_s=0.0,
            end_s=round(end, 4),
            duration_s=round(end, 4),
            audio=key,
            level_dbfs=float(quality["level_dbfs"]),
            speech_ratio=float(quality["speech_ratio"]),
            clipping_ratio=float(quality["clipping_ratio"]),
            snr_db=float(quality["snr_db"]),
            speaker=speaker,
            status=status,
        )
        Recording.objects.filter(pk=recording.pk).update(status=Recording.Status.SEGMENTED)
    except BaseException:
        default_storage.delete(key)
        raise
    if status == Clip.Status.AWAITING_VALIDATION:
        policies.clips_created([clip.pk])
    return clip


# --- speakers: a recording's clusters (written by segmentation), series speakers (curated) ---


def _unit(vectors) -> list[float]:
    """The L2-normalised mean of embeddings (a list of 256-float lists), as a list."""
    mean = np.mean(np.asarray(vectors, dtype=np.float64), axis=0)
    norm = float(np.linalg.norm(mean))
    return [round(float(v), 6) for v in (mean / norm if norm > 0 else mean)]


def _series_speaker_recentre(voice: SeriesSpeaker) -> None:
    """Its centroid becomes the normalised mean of its clusters' centroids (kept if it has none)."""
    centroids = [c for c in voice.clusters.values_list("centroid", flat=True) if c]
    if centroids:
        SeriesSpeaker.objects.filter(pk=voice.pk).update(centroid=_unit(centroids))


def _series_speakers_link(*, recording: Recording, clusters: list[SpeakerCluster]) -> None:
    """Link a recording's new clusters to its series' speakers (one voice across episodes).

    Each cluster goes to the most similar series speaker of the same project and Source title
    (cosine similarity of centroids, one-to-one by the Hungarian assignment of
    `corpus.speakers.link_clusters`) when the similarity reaches the threshold; any other
    cluster starts a new series speaker. Runs inside the caller's transaction.
    """
    from corpus import speakers

    if not clusters:
        return
    project_id, series = recording.source.project_id, recording.source.title
    voices = list(SeriesSpeaker.objects.filter(project_id=project_id, series=series).exclude(centroid=[]))
    pairs = (
        speakers.link_clusters(
            np.asarray([c.centroid for c in clusters], dtype=np.float32),
            np.asarray([v.centroid for v in voices], dtype=np.float32),
        )
        if voices
        else []
    )
    linked = {i: voices[j] for i, j in pairs}
    touched = set()
    for i, cluster in enumerate(clusters):
        voice = linked.get(i) or SeriesSpeaker.objects.create(
            project_id=project_id, series=series, centroid=cluster.centroid
        )
        cluster.series_speaker = voice
        touched.add(voice.pk)
    SpeakerCluster.objects.bulk_update(clusters, ["series_speaker"])
    for voice in SeriesSpeaker.objects.filter(pk__in=touched):
        _series_speaker_recentre(voice)


def series_speaker_rename(*, voice: SeriesSpeaker, name: str) -> SeriesSpeaker:
    """Name a series speaker ("Sbouï"); a blank name makes it unnamed again.

    Args:
        voice: the series speaker.
        name: up to 100 characters, stripped.
    Returns:
        The updated SeriesSpeaker.
    Raises:
        ValidationError: a name over 100 characters, or one another voice of the same series
            already bears.
    """
    name = name.strip()
    if len(name) > 100:
        raise ValidationError("A speaker's name has at most 100 characters.")
    taken = SeriesSpeaker.objects.filter(project_id=voice.project_id, series=voice.series, name=name)
    if name and taken.exclude(pk=voice.pk).exists():
        raise ValidationError(
            f"Another voice of “{voice.series}” is already named “{name}”: merge them instead."
        )
    SeriesSpeaker.objects.filter(pk=voice.pk).update(name=name)
    voice.refresh_from_db()
    return voice


def series_speaker_merge(*, voice: SeriesSpeaker, other: SeriesSpeaker) -> SeriesSpeaker:
    """Merge `other` into `voice` (the curator heard one person in both): `other`'s clusters
    move to `voice`, whose centroid is recomputed; `other` is deleted; `voice` keeps its name,
    or takes `other`'s if it has none.

    Raises:
        ValidationError: the same voice twice, or voices of different series or projects.
    """
    if voice.pk == other.pk:
        raise ValidationError("Choose two different voices to merge.")
    if (voice.project_id, voice.series) != (other.project_id, other.series):
        raise ValidationError("Only voices of the same series can be merged.")
    with transaction.atomic():
        SpeakerCluster.objects.filter(series_speaker=other).update(series_speaker=voice)
        if not voice.name and other.name:
            SeriesSpeaker.objects.filter(pk=voice.pk).update(name=other.name)
        other.delete()
        _series_speaker_recentre(voice)
    voice.refresh_from_db()
    return voice


def speaker_cluster_detach(*, cluster: SpeakerCluster) -> SeriesSpeaker:
    """Split a series speaker: `cluster` (one recording's voice) leaves it for a new, unnamed
    series speaker of its own; both centroids are recomputed.

    Returns:
        The new SeriesSpeaker.
    Raises:
        ValidationError: the cluster is its series speaker's only cluster (nothing to split).
    """
    old = cluster.series_speaker
    if old is not None and old.clusters.count() <= 1:
        raise ValidationError("This voice has only this cluster: there is nothing to split off.")
    with transaction.atomic():
        voice = SeriesSpeaker.objects.create(
            project_id=cluster.recording.source.project_id,
            series=cluster.recording.source.title,
            centroid=cluster.centroid,
        )
        SpeakerCluster.objects.filter(pk=cluster.pk).update(series_speaker=voice)
        if old is not None:
            _series_speaker_recentre(old)
    return voice
