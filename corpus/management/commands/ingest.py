"""`python manage.py ingest PATH [PATH ...] --source TITLE [--episode E] [--sync]`

Files or folders (recursive). One line per recording and a summary; bad files are reported and
skipped, and the command exits non-zero after processing the good ones.
"""

from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from core.access import project_get_default
from core.models import Project
from corpus import services


class Command(BaseCommand):
    help = "Ingest audio/video files or folders into the corpus and segment them."

    def add_arguments(self, parser):
        parser.add_argument("paths", nargs="+", type=Path)
        parser.add_argument("--source", required=True, help="Series or programme title.")
        parser.add_argument("--episode", default="")
        parser.add_argument("--channel", default="")
        parser.add_argument("--project", default=None, help="Project slug (default: the 'tuniser' project).")
        parser.add_argument(
            "--sync",
            action="store_true",
            help="Segment in this process instead of queueing a Celery job (no worker needed).",
        )
        parser.add_argument("--no-segment", action="store_true", help="Only decode and store.")
        parser.add_argument(
            "--track",
            type=int,
            default=None,
            help="Audio track to use (0 = first audio track). Default: one in the project's "
            "languages, else the default-flagged track, else the first.",
        )
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args, **opts):
        if opts["project"]:
            project = Project.objects.filter(slug=opts["project"]).first()
            if project is None:
                raise CommandError(f"No project with slug '{opts['project']}'.")
        else:
            project = project_get_default()
        try:
            source = services.source_get_or_create(
                project=project, title=opts["source"], episode=opts["episode"], channel=opts["channel"]
            )
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from exc
        files, missing = services.ingest_paths(opts["paths"])
        failures = [f"{path}: does not exist" for path in missing]
        counts = {"ingested": 0, "duplicate": 0, "failed": len(missing)}
        segment = not opts["no_segment"]
        bar = tqdm(files, unit="file", disable=opts["no_progress"] or not files, file=self.stderr._out)
        for path in bar:
            bar.set_postfix_str(path.name[-40:])
            try:
                result = services.recording_ingest(
                    source=source, path=path, segment=segment and not opts["sync"], audio_track=opts["track"]
                )
            except services.IngestRejected as exc:
                failures.append(exc.message)
                counts["failed"] += 1
                tqdm.write(f"FAILED     {path}: {exc.message}", file=self.stdout._out)
                continue
            rec = result.recording
            if result.duplicate:
                counts["duplicate"] += 1
                line = f"DUPLICATE  {path} = recording #{rec.pk} ({rec.original_name})"
            elif result.failed:
                counts["failed"] += 1
                failures.append(f"{path}: {rec.error}")
                line = f"FAILED     {path}: recording #{rec.pk} kept as failed: {rec.error}"
            else:
                counts["ingested"] += 1
                line = f"INGESTED   {path} -> recording #{rec.pk}, {rec.duration_s:.1f} s"
                if segment and opts["sync"]:
                    run = services.segmentation_run_create(recording=rec, enqueue=False)
                    services.segmentation_run_execute(run_id=run.pk)
                    run.refresh_from_db()
                    line += (
                        f", {run.n_clips_created or 0} clips"
                        if run.status == "succeeded"
                        else f", segmentation FAILED: {run.error}"
                    )
                    if run.status != "succeeded":
                        counts["failed"] += 1
                        failures.append(f"{path}: segmentation failed: {run.error}")
                elif segment:
                    line += ", segmentation queued"
            tqdm.write(line, file=self.stdout._out)
        summary = (
            f"{len(files) + len(missing)} path(s): {counts['ingested']} ingested, "
            f"{counts['duplicate']} duplicate, {counts['failed']} failed"
        )
        if missing:
            for path in missing:
                self.stdout.write(f"FAILED     {path}: does not exist")
        if failures:
            raise CommandError(summary + "\n" + "\n".join(f"  - {f}" for f in failures), returncode=1)
        self.stdout.write(self.style.SUCCESS(summary))
