"""Factories for annotation tests that need many clips fast (rows over one real recording)."""

from __future__ import annotations

from annotation import services
from corpus.models import Clip, Recording


def clone_clips(
    recording: Recording, n: int, *, status: str = Clip.Status.ACCEPTED, start: float = 1000.0
) -> list[int]:
    """`n` clips over `recording`'s first real clip audio (distinct spans from `start` seconds on,
    2 s apart, same WAV), in the pool that matches `status`. Call again with a later `start`
    (start + 2 n or more) for more clips with higher ids."""
    template = recording.clips.order_by("start_s").first()
    clips = [
        Clip(
            recording=recording,
            start_s=start + 2 * i,
            end_s=start + 2 * i + template.duration_s,
            duration_s=template.duration_s,
            audio=template.audio.name,
            level_dbfs=template.level_dbfs,
            speech_ratio=template.speech_ratio,
            clipping_ratio=template.clipping_ratio,
            snr_db=template.snr_db,
            status=status,
        )
        for i in range(n)
    ]
    Clip.objects.bulk_create(clips, batch_size=1000)
    ids = list(
        recording.clips.filter(start_s__gte=start, start_s__lt=start + 2 * n).values_list("pk", flat=True)
    )
    kind = services.LABELLING if status == Clip.Status.ACCEPTED else services.VALIDATION
    services.pool_add_clips(clip_ids=ids, kind=kind)
    return ids
