"""Exporting a release: one archive a training script (or Hugging Face `datasets`) can read as it is.

    audio/<split>/<label>/<clip>.wav     the clips (augmented copies: <clip>_aug<n>.wav, train only)
    audio/<split>/metadata.csv           Hugging Face `audiofolder` layout (per split, file_name
                                         relative to it): file_name, label, gender, split, source,
                                         duration, agreement, votes (annotators' votes per
                                         emotion, counts), soft_label (the consensus, fractions), ...,
                                         fold (a "kfold" release's fold, 0..k-1; empty otherwise),
                                         ratings (every rater's label, anonymous ids), n_raters,
                                         escalated (more raters because the first K disagreed)
    manifest.jsonl                       the release manifest (its sha256 is the release checksum)
    README.md                            the data card

The export is a job row (ReleaseExport) executed by a Celery task on the `audio` queue.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import tempfile
import zipfile
from collections import Counter
from pathlib import Path

import numpy as np
import soundfile as sf
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import transaction

from annotation import selectors as annotation_selectors
from annotation.guideline import DEFAULT_GUIDELINE
from annotation.models import AnnotationConfig
from core import display, jobs
from corpus.audio import stored_file_reader
from corpus.models import Clip, Recording, Source
from releases.augment import release_item_samples
from releases.importers import corpus_licence
from releases.models import Release, ReleaseExport

logger = logging.getLogger(__name__)


def release_export_create(*, release: Release, created_by=None, enqueue: bool = True) -> ReleaseExport:
    """Queue an export of `release` (or return the one already queued or running).

    Checks no role: the caller resolves the release with `release_for_user`.

    Args:
        release: the release to export.
        created_by: the user recorded on the export.
        enqueue: queue `releases.tasks.export_release` after commit (False: the caller runs
            `release_export_execute` itself).
    Returns:
        The new ReleaseExport (status queued), or the release's export already queued or running.
    """
    with transaction.atomic():
        # Lock the release row: two simultaneous requests queue one export, not two writing the
        # same archive.
        Release.objects.select_for_update().filter(pk=release.pk).first()
        busy = release.exports.filter(
            status__in=[ReleaseExport.Status.QUEUED, ReleaseExport.Status.RUNNING]
        ).first()
        if busy:
            return busy
        export = ReleaseExport.objects.create(release=release, created_by=created_by)
        if enqueue:
            from releases.tasks import export_release

            transaction.on_commit(lambda: export_release.delay(export.pk))
    return export


def release_export_execute(*, export_id: int) -> bool:
    """Write the archive of a release (core.jobs: claimed row, throttled progress, failure kept).

    1. Claim the row (a redelivered message does nothing twice).
    2. Stream every clip into a ZIP (stored, not compressed: WAV does not compress well) in
       manifest order; augmented copies are made here, deterministically from the release seed.
    3. Add metadata.csv, manifest.jsonl and README.md; store the archive; mark the row done.

    The archive is stored at exports/<project slug>/<name>-v<version>.zip (or a free name next
    to it); the row gets `archive` (the storage key) and `size_bytes`. On a filesystem storage it
    is written to a partial file of this export first (the same at every attempt, so a retry
    after a lost worker overwrites it), then renamed; on failure the partial file is removed.

    Args:
        export_id: the ReleaseExport's id.
    Returns:
        False if the export was not free to take, True once this call ran it (its outcome is on
        the row).
    """
    return jobs.job_execute(ReleaseExport, export_id, _export, claim_fields={"progress": 0.0})


def _export(export: ReleaseExport, progress: jobs.JobProgress) -> dict:
    release = export.release
    with default_storage.open(release.manifest.name, "rb") as fh:
        manifest_bytes = fh.read()
    items = [json.loads(line) for line in manifest_bytes.decode().splitlines() if line]
    audio_names = dict(
        Clip.objects.filter(release_items__release=release).values_list("pk", "audio").distinct()
    )
    seed = int(release.params.get("seed", 0))
    key = f"exports/{release.project.slug}/{release.name}-v{release.version}.zip"
    # One partial file per export, the same at every attempt: an attempt whose worker was killed
    # leaves it behind, and the next attempt overwrites it (no orphan archive next to the real one).
    local = _local_path(_partial_key(export))
    with tempfile.TemporaryDirectory(prefix="tuniser-export-") as tmp:
        # On a filesystem storage the archive is written in place (no second copy of GBs), then
        # renamed to a free name; on an object store it is written to a temporary file and uploaded.
        path = local or Path(tmp) / Path(key).name
        try:
            _write_archive(path, release, items, manifest_bytes, audio_names, seed, progress)
            size = path.stat().st_size
            if local is None:
                with open(path, "rb") as fh:
                    key = default_storage.save(key, File(fh))
            else:
                key = default_storage.get_available_name(key)
                os.replace(path, default_storage.path(key))
        except BaseException:
            if local is not None:
                local.unlink(missing_ok=True)
            raise
    return {"archive": key, "size_bytes": size}


def _partial_key(export: ReleaseExport) -> str:
    return f"exports/{export.release.project.slug}/.export-{export.pk}.zip.part"


def _local_path(key: str) -> Path | None:
    """The file of `key` on a filesystem storage (its folder made); None on object stores."""
    try:
        path = Path(default_storage.path(key))
    except NotImplementedError:
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def release_export_given_up(*, pk: int, error: str) -> None:
    """Clean up after core.jobs gave up export `pk` (its worker was lost at every attempt): the
    partial archive its attempts wrote is deleted.

    Args:
        pk: the ReleaseExport's id.
        error: the reason written on the row (unused: nothing else to record).
    """
    export = ReleaseExport.objects.filter(pk=pk).select_related("release__project").first()
    path = _local_path(_partial_key(export)) if export is not None else None
    if path is not None:
        path.unlink(missing_ok=True)


def _write_archive(path: Path, release, items, manifest_bytes, audio_names, seed, progress) -> None:
    read = stored_file_reader()
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
        for n, item in enumerate(items, start=1):
            name = audio_names[item["clip_id"]]
            if item["augmented_copy"]:
                copy, rate = release_item_samples(
                    audio_name=name,
                    clip_id=item["clip_id"],
                    copy_index=item["augmented_copy"],
                    seed=seed,
                    read=read,
                )
                out = io.BytesIO()
                sf.write(out, copy, rate, subtype="PCM_16", format="WAV")
                data = out.getvalue()
            else:
                data = read(name)  # the clip itself: its WAV bytes as stored
            zf.writestr(item["file_name"], data)
            progress(0.95 * n / len(items))
        # `audiofolder` reads the metadata that sits beside each split's files.
        for split in sorted({i["split"] for i in items}):
            zf.writestr(
                f"audio/{split}/metadata.csv",
                _metadata_csv([i for i in items if i["split"] == split], f"audio/{split}/"),
            )
        zf.writestr("manifest.jsonl", manifest_bytes)
        zf.writestr("README.md", data_card(release, items))


METADATA_COLUMNS = [
    "file_name",
    "label",
    "gender",
    "split",
    "source",
    "duration",
    "agreement",
    "votes",
    "soft_label",
    "clip_id",
    "speaker",
    "augmented_copy",
    "fold",
    "ratings",
    "n_raters",
    "escalated",
]


def _metadata_csv(items: list[dict], prefix: str) -> str:
    """One split's metadata.csv, file names relative to the split folder (audiofolder layout)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(METADATA_COLUMNS)
    writer.writerows(
        [
            i["file_name"].removeprefix(prefix),
            i["label"],
            i["gender"],
            i["split"],
            i["source"],
            i["duration"],
            i["agreement"],
            json.dumps(i["votes"], sort_keys=True),
            # Manifests of releases built before the column existed have no soft_label.
            json.dumps(i.get("soft_label", {}), sort_keys=True),
            i["clip_id"],
            # Manifests built before broadcast voices were named there keep them in "voice" only.
            i["speaker"] or i.get("voice", ""),
            i["augmented_copy"],
            # The cross-validation fold of a "kfold" release; empty for a holdout release.
            "" if i.get("fold") is None else i["fold"],
            # Manifests built before dynamic overlap carry no ratings: none listed, the raters
            # counted from the votes, nothing escalated.
            json.dumps(i.get("ratings", []), sort_keys=True, ensure_ascii=False),
            i.get("n_raters", sum(i["votes"].values())),
            bool(i.get("escalated", False)),
        ]
        for i in items
    )
    return buf.getvalue()


def _quality_section(release: Release) -> list[str]:
    """The data card's "Annotator quality": hidden gold checks in counts only (no names), from
    `annotation.selectors.check_summary` at export time."""
    q = annotation_selectors.check_summary(project=release.project)
    if not q["checks"] and not q["answers"]:
        body = ["No hidden gold checks were used in this project."]
    else:
        accuracy = f"{q['mean_accuracy']:.1%}" if q["mean_accuracy"] is not None else "n/a (no answers yet)"
        body = [
            "Reference clips were handed to annotators unannounced among ordinary clips; an annotator "
            "whose accuracy on them was shown (95 % Wilson interval) to be under the project's threshold "
            "was paused until a curator reviewed them, and a curator may exclude their labels.",
            "",
            f"- Hidden checks: {q['checks']} (answers: {q['answers']}, by {q['annotators']} annotators)",
            f"- Mean accuracy on checks (per annotator): {accuracy}",
            f"- Annotators paused: {q['paused']}; excluded (labels not counted): {q['excluded']}",
        ]
    return ["## Annotator quality", "", *body, ""]


def data_card(release: Release, items: list[dict]) -> str:
    """The README of an export: what is in it, how it was built, how far to trust its labels.

    Sections: header (items, manifest sha256, build time, parameters), a split x label x gender
    table, a histogram of clip durations (1 s bins; augmented copies left out), the agreement of
    the released clips, annotator quality (hidden gold checks, counts only), the project's
    annotation guideline (or the default one), and the
    sources with their licence notes.

    Args:
        release: the release.
        items: its manifest rows, as dicts (`json.loads` of each manifest line).
    Returns:
        The Markdown text.
    Raises:
        ValueError: `items` holds no clip that is not an augmented copy (numpy's max of an empty
            array).
    """
    params = release.params
    # An 80/20 release has no validation split: leave out the splits with nothing in them.
    splits = [s for s in ("train", "validation", "test") if any(i["split"] == s for i in items)]
    labels = sorted({i["label"] for i in items})
    genders = sorted({i["gender"] or "unknown" for i in items})
    table = Counter((i["split"], i["label"], i["gender"] or "unknown") for i in items)
    lines = [
        f"# {release.name} v{release.version}",
        "",
        f"Speech-emotion dataset released by TuniSER Studio {release.platform_version} from project "
        f"*{release.project.name}* ({release.project.dialect}).",
        "",
        f"- Items: {len(items)} (augmented training copies: {sum(1 for i in items if i['augmented_copy'])})",
        f"- Manifest sha256: `{release.checksum}`",
        f"- Built: {release.created_at:%Y-%m-%d %H:%M} UTC",
        f"- Parameters: `{json.dumps(params, sort_keys=True)}`",
        "",
        "## Clips per split, label and gender",
        "",
        "| split | " + " | ".join(f"{label} ({g})" for label in labels for g in genders) + " | total |",
        "|---|" + "---|" * (len(labels) * len(genders) + 1),
    ]
    for split in splits:
        row = [table[(split, label, g)] for label in labels for g in genders]
        lines.append(f"| {split} | " + " | ".join(map(str, row)) + f" | {sum(row)} |")
    lines += _folds_section(items, labels)
    durations = np.array([i["duration"] for i in items if not i["augmented_copy"]])
    counts, edges = np.histogram(durations, bins=np.arange(0, max(16, int(durations.max()) + 2), 1.0))
    lines += ["", "## Clip durations", "", "| seconds | clips |", "|---|---|"]
    lines += [
        f"| {edges[k]:.0f}–{edges[k + 1]:.0f} | {_bar(c, counts.max())} {c} |"
        for k, c in enumerate(counts)
        if c
    ]
    lines += [
        "",
        f"Total {durations.sum() / 3600:.2f} h; mean {durations.mean():.2f} s; "
        f"median {np.median(durations):.2f} s.",
    ]
    lines += _speakers_section(items, splits)
    agreement = Counter(i["agreement"] for i in items if not i["augmented_copy"])
    clips = [i for i in items if not i["augmented_copy"]]
    n_escalated = sum(1 for i in clips if i.get("escalated"))
    raters = Counter(i.get("n_raters", sum(i["votes"].values())) for i in clips)
    lines += [
        "",
        "## Label agreement",
        "",
        "Each clip's label is the consensus of its annotators (or a gold label from an imported corpus, or a "
        "curator's adjudication). Agreement of the released clips:",
        "",
    ]
    lines += [f"- {k}: {display.count(v, 'clip')}" for k, v in sorted(agreement.items())]
    lines += [
        "",
        "Dynamic overlap: each clip was first labelled by K annotators; a clip whose labels disagreed "
        "got one more rater at a time, up to the project's maximum, until they agreed. "
        f"Escalated clips in this release: {display.count(n_escalated, 'clip')} of {len(clips)}. "
        "Raters per clip: "
        + ", ".join(f"{n}: {display.count(c, 'clip')}" for n, c in sorted(raters.items()))
        + ".",
        "",
        "These columns of metadata.csv (and keys of manifest.jsonl) describe the label beyond its name:",
        "",
        '- `votes`: how many annotators chose each emotion, as whole counts (`{"angry": 2, "sad": 1}`); '
        "`{}` for a gold clip of an imported corpus, which nobody voted on.",
        "- `soft_label`: the consensus as fractions summing to 1 (the vote shares, the Dawid-Skene "
        "posteriors, or `1.0` on the gold or adjudicated emotion): use it as a soft training target. "
        "Both use every rater, escalated clips' extra raters included.",
        '- `ratings`: every rater\'s label as a JSON list, in the order given: `[{"rater": "r-1a2b3c4d", '
        '"emotion": "sad", "gender": "female"}, ...]`. A rater id is anonymous (a keyed hash, never a '
        "name) and stable within this release name: the same id on two clips is the same person; ids do "
        "not match across releases. `[]` for a gold clip.",
        "- `n_raters`: how many people labelled the clip (0 for a gold clip).",
        "- `escalated`: `True` when the clip's first K labels disagreed and it got more raters.",
        "",
        "`speaker` names who speaks: the speaker of an imported corpus; for broadcast audio, the name a "
        "curator gave the voice (a series speaker, one person across episodes), else the label of the "
        "voice found in that recording by the speaker step (`<series> <episode>-spk<n>`, one recording "
        "only); empty when no speaker step ran.",
        "",
    ]
    lines += _quality_section(release)
    config = AnnotationConfig.objects.filter(project=release.project).first()
    lines += [
        "## Annotation guideline",
        "",
        (config.guideline if config and config.guideline else DEFAULT_GUIDELINE),
        "",
    ]
    sources = (
        Source.objects.filter(recordings__clips__release_items__release=release)
        .distinct()
        .order_by("title", "episode")
    )
    lines += ["## Sources and licences", ""]
    lines += [f"- {s}: {corpus_licence(s) or 'no licence note recorded'}" for s in sources]
    lines += ["", "## Recordings (provenance of the audio)", ""]
    lines += [
        "| recording | source | container | track used | codec | channels | original rate | downmix "
        "| decode warnings |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    recordings = (
        Recording.objects.filter(clips__release_items__release=release)
        .select_related("source")
        .distinct()
        .order_by("pk")
    )
    for rec in recordings:
        lines.append(
            "| "
            + " | ".join(
                _cell(x)
                for x in (
                    f"#{rec.pk} {rec.original_name}",
                    rec.source,
                    rec.container or "?",
                    _track_used(rec),
                    rec.codec or "?",
                    rec.original_channels or "?",
                    f"{rec.original_sample_rate} Hz" if rec.original_sample_rate else "?",
                    rec.downmix or "mono",
                    "; ".join(rec.decode_warnings) or "none",
                )
            )
            + " |"
        )
    lines.append("")
    return "\n".join(lines)


def _folds_section(items: list[dict], labels: list[str]) -> list[str]:
    """Clips, groups and labels per cross-validation fold ("kfold" releases; none otherwise)."""
    folds = sorted({i["fold"] for i in items if i.get("fold") is not None})
    if not folds:
        return []
    params_note = (
        "leave one group out" if len(folds) == len({i["group"] for i in items}) else f"{len(folds)} folds"
    )
    lines = [
        "",
        f"## Clips per cross-validation fold ({params_note})",
        "",
        "Every clip is in split `train`; the `fold` column says which fold tests it. Groups never "
        "cross folds.",
        "",
        "| fold | groups | " + " | ".join(labels) + " | total |",
        "|---|---|" + "---|" * (len(labels) + 1),
    ]
    for fold in folds:
        rows = [i for i in items if i.get("fold") == fold]
        by_label = Counter(i["label"] for i in rows)
        lines.append(
            f"| {fold} | {len({i['group'] for i in rows})} | "
            + " | ".join(str(by_label[label]) for label in labels)
            + f" | {len(rows)} |"
        )
    return lines


def _speakers_section(items: list[dict], splits: list[str]) -> list[str]:
    """Speakers per split: named speakers and voices found by the speaker step (manifest "voice";
    rows of older releases have none), and the clips whose speaker is unknown."""
    lines = [
        "",
        "## Speakers per split",
        "",
        "Named speakers of imported corpora, and voices found in broadcast audio by the speaker step "
        "(clusters of speaker embeddings, linked across a series' episodes).",
        "",
        "| split | speakers | clips of unknown speaker |",
        "|---|---|---|",
    ]
    for split in splits:
        rows = [i for i in items if i["split"] == split and not i["augmented_copy"]]
        voices = {i.get("voice") for i in rows if i.get("voice")}
        unknown = sum(1 for i in rows if not i.get("voice"))
        lines.append(f"| {split} | {len(voices)} | {unknown} |")
    return lines


def _track_used(rec) -> str:
    """ "1 of 2 (ara, in the project's language)" for the data card."""
    if rec.audio_track is None or not rec.audio_tracks:
        return "the only one"
    track = next((t for t in rec.audio_tracks if t.get("position") == rec.audio_track), {})
    why = rec.get_track_reason_display() if rec.track_reason else ""
    lang = track.get("language") or "no language"
    return f"{rec.audio_track} of {len(rec.audio_tracks)} ({lang}{', ' + why if why else ''})"


def _cell(value) -> str:
    """A Markdown table cell: pipes escaped, one line."""
    return str(value).replace("|", "\\|").replace("\n", " ")


def _bar(count: int, largest: int) -> str:
    """A text bar of at most 40 blocks for the data card's duration histogram ("" for 0)."""
    return "█" * max(1, round(40 * count / largest)) if count else ""
