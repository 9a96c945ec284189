"""Consensus + agreement figures on 100,000 clips with 3 labels each, and building + exporting a
balanced release, against a plain copy of the same audio files into an archive (the floor).

From the repository root (the command of RESULTS.md):

    .venv/bin/python -m benchmarks.release

Options, at their defaults: --clips 100000 --audio-files 2000 --clip-s 1.0 (seconds). RAVDESS
comes from $TUNISER_DATA_DIR (default ../shared/data).

1. Scratch database (SQLite by default; DATABASE_URL for PostgreSQL) and media folder.
2. `--audio-files` distinct clip WAVs cut from real RAVDESS speech (`--clip-s` long); the
   clips use them in turn (100,000 distinct files would need ~3 GB for no added insight).
3. 100,000 clips, 30 annotators, 3 labels per clip drawn from a skewed emotion distribution
   with realistic disagreement (bulk-inserted: setup, not timed).
4. Timed: consensus of every clip; the agreement figures (the dashboard's); building a 4-class
   undersampled release grouped by episode; exporting it (ZIP of WAVs + metadata + data card).
5. Floor: zipfile writing the same WAV files, one per release item, into a stored ZIP.

Prints a table, then `agreement_s=<seconds>` (the agreement figures of step 4, two decimals)
and, last, the one line `release_ratio=<(build + export) / floor>`: release build plus export
time over the best of two floor runs, two decimals (`release_ratio=1.24` in RESULTS.md).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("TUNISER_DATA_DIR", REPO.parent / "shared" / "data"))
EMOTIONS = ["happy", "sad", "angry", "neutral", "fear", "disgust", "surprise"]
PRIORS = np.array([0.16, 0.12, 0.14, 0.40, 0.06, 0.05, 0.07])


def setup(n_clips: int, n_files: int, clip_s: float, media: Path) -> dict:
    import soundfile as sf
    from django.contrib.auth.models import User
    from django.core.management import call_command

    from annotation.guideline import ensure_guideline
    from annotation.models import Annotation, LabelOption
    from core.access import project_get_default
    from corpus import services
    from corpus.models import Clip, Recording
    from releases.importers import label_mappings_ensure

    call_command("migrate", verbosity=0)
    ensure_guideline()
    label_mappings_ensure()
    project = project_get_default()
    rng = np.random.default_rng(0)
    files = sorted((DATA / "ravdess").glob("*.flac"))
    if not files:
        sys.exit(f"No test audio under {DATA}")
    clip_dir = media / "clips" / "bench"
    clip_dir.mkdir(parents=True, exist_ok=True)
    names = []
    for i in range(n_files):
        x, rate = sf.read(files[i % len(files)], dtype="int16")
        start = int(0.8 * rate)
        sf.write(clip_dir / f"{i:05d}.wav", x[start : start + int(clip_s * rate)], rate, subtype="PCM_16")
        names.append(f"clips/bench/{i:05d}.wav")
    # 50 episodes of a series: releases group by episode.
    recordings = []
    for e in range(50):
        source = services.source_get_or_create(project=project, title="Bench series", episode=f"E{e:02d}")
        recordings.append(
            Recording.objects.create(
                source=source,
                project=project,
                original=names[0],
                original_name=f"e{e}.wav",
                size_bytes=1,
                sha256=f"{e:064d}",
                normalised=names[0],
                duration_s=3600,
                status="segmented",
            )
        )
    clips = [
        Clip(
            recording=recordings[i % 50],
            start_s=i * 2.0,
            end_s=i * 2.0 + clip_s,
            duration_s=clip_s,
            audio=names[i % n_files],
            level_dbfs=-20,
            speech_ratio=0.9,
            clipping_ratio=0,
            snr_db=25,
            status="labelled",
        )
        for i in range(n_clips)
    ]
    Clip.objects.bulk_create(clips, batch_size=5000)
    clip_ids = list(Clip.objects.order_by("id").values_list("id", flat=True))
    users = [User(username=f"ann{i:02d}") for i in range(30)]
    User.objects.bulk_create(users)
    user_ids = list(User.objects.filter(username__startswith="ann").values_list("id", flat=True))
    opts = dict(LabelOption.objects.filter(kind="emotion").values_list("code", "pk"))
    genders = list(LabelOption.objects.filter(kind="gender").values_list("pk", flat=True))
    reliable = rng.uniform(0.6, 0.95, size=len(user_ids))
    truth = rng.choice(len(EMOTIONS), size=n_clips, p=PRIORS)
    rows = []
    for k, clip_id in enumerate(clip_ids):
        raters = rng.choice(len(user_ids), size=3, replace=False)
        for r in raters:
            label = truth[k] if rng.random() < reliable[r] else rng.integers(len(EMOTIONS))
            rows.append(
                Annotation(
                    clip_id=clip_id,
                    annotator_id=user_ids[r],
                    emotion_id=opts[EMOTIONS[label]],
                    gender_id=genders[k % 2],
                    time_spent_ms=3000,
                )
            )
        if len(rows) >= 30000:
            Annotation.objects.bulk_create(rows, batch_size=5000)
            rows = []
    Annotation.objects.bulk_create(rows, batch_size=5000)
    return {"project": project}


def floor_copy(paths: list[Path], out: Path) -> float:
    start = time.perf_counter()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
        for n, path in enumerate(paths):
            zf.writestr(f"audio/{n}.wav", path.read_bytes())
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clips", type=int, default=100_000)
    parser.add_argument("--audio-files", type=int, default=2000)
    parser.add_argument("--clip-s", type=float, default=1.0)
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="tuniser-release-"))
    os.environ.setdefault("DATABASE_URL", f"sqlite:///{scratch / 'bench.sqlite3'}")
    os.environ.update(
        DJANGO_SETTINGS_MODULE="tuniser.settings",
        MEDIA_ROOT=str(scratch / "media"),
        TUNISER_VAR_DIR=str(scratch),
        LOG_LEVEL="WARNING",
    )
    import django

    django.setup()
    from django.db import connection

    from annotation.consensus import consensus_recompute
    from annotation.selectors import agreement_figures
    from releases.build import ReleaseParams, release_build
    from releases.export import release_export_create, release_export_execute
    from releases.models import ReleaseExport

    t = time.perf_counter()
    project = setup(args.clips, args.audio_files, args.clip_s, scratch / "media")["project"]
    setup_s = time.perf_counter() - t

    t = time.perf_counter()
    result = consensus_recompute(project=project, method="majority")
    consensus_s = time.perf_counter() - t
    t = time.perf_counter()
    figures = agreement_figures(project=project)
    agreement_s = time.perf_counter() - t

    params = ReleaseParams(name="bench", balancing="undersample", group_by="episode", seed=0)
    t = time.perf_counter()
    release = release_build(project=project, params=params)
    build_s = time.perf_counter() - t
    t = time.perf_counter()
    export = release_export_create(release=release, enqueue=False)
    release_export_execute(export_id=export.pk)
    export_s = time.perf_counter() - t
    export = ReleaseExport.objects.get(pk=export.pk)
    if export.status != "succeeded":
        sys.exit(f"export failed: {export.error}\n{export.traceback}")

    media = scratch / "media"
    paths = [media / name for name in release.items.order_by("id").values_list("clip__audio", flat=True)]
    floors = [floor_copy(paths, scratch / f"floor{k}.zip") for k in range(2)]
    floor = min(floors)
    rows = [
        (
            "database",
            f"{connection.vendor}; {args.clips:,} clips x 3 labels, 30 annotators (setup {setup_s:.0f} s)",
        ),
        (
            "consensus (majority, every clip)",
            f"{consensus_s:.2f} s ({result['needs_adjudication']:,} need adjudication)",
        ),
        (
            "agreement figures",
            f"{agreement_s:.2f} s (Fleiss {figures['fleiss_kappa']:.3f}, "
            f"alpha {figures['krippendorff_alpha']:.3f})",
        ),
        ("consensus + agreement", f"{consensus_s + agreement_s:.2f} s"),
        ("release build (4 classes, undersample, by episode)", f"{build_s:.2f} s, {release.n_items:,} items"),
        ("release export (ZIP + metadata + card)", f"{export_s:.2f} s, {export.size_bytes / 2**20:.0f} MiB"),
        ("floor: zip the same WAVs", f"{floor:.2f} s (best of {len(floors)})"),
    ]
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key.ljust(width)}  {value}")
    print(f"agreement_s={agreement_s:.2f}")
    print(f"release_ratio={(build_s + export_s) / floor:.2f}")


if __name__ == "__main__":
    main()
