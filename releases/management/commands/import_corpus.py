"""`python manage.py import_corpus --format FORMAT PATH`: a labelled corpus in as gold-labelled clips."""

import argparse
from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from core.access import project_get_default
from core.models import Project
from releases.imported import imported_release_name, release_create_from_assignment
from releases.importers import FORMATS, TABLE_FORMATS, corpus_import

HELP = """Import a labelled emotion corpus as gold-labelled clips, labels mapped through the Label
mappings (admin). Unknown names, bad rows and unmapped labels are reported, never guessed; the
command then exits with status 1.

formats (PATH is a folder, except for manifest):
  ravdess, emodb, tess, crema-d, savee   the published corpora, read by their file names
  folder        <label>/<file>: the folder names the label; no speakers
  manifest      a CSV (.csv) or JSON Lines (.jsonl, .json-lines) file with columns path
                (relative to the manifest's folder, or absolute) and label; optional speaker,
                gender, split, fold; any other column (transcript...) is kept as the clip's
                metadata
  audiofolder   Hugging Face audiofolder: metadata.csv or metadata.jsonl beside the files (one
                per split folder in this platform's exports), file_name relative to it; label,
                speaker, gender, split and fold kept, augmented copies skipped. With splits,
                the import also builds a release with the same splits, or folds (--release)
  pattern       any tree, read by --pattern: "{speaker}/{*}_{label} ({*}).wav"; {name}
                captures part of one folder or file name, {*} matches anything inside one
                name, {**} anything across folders; the rest must match exactly (the
                extension in any case)

Labels that are emotion codes (angry, happy...) need no mapping in folder, manifest,
audiofolder and pattern imports."""


class Command(BaseCommand):
    help = HELP

    def create_parser(self, prog_name, subcommand, **kwargs):
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        parser.formatter_class = argparse.RawDescriptionHelpFormatter
        return parser

    def add_arguments(self, parser):
        parser.add_argument("path", type=Path, help="The corpus folder (the manifest file for manifest).")
        parser.add_argument("--format", required=True, choices=FORMATS, dest="fmt")
        parser.add_argument("--project", default=None, help="Project slug (default: tuniser).")
        parser.add_argument("--source", default=None, help="Source title (default: the corpus name).")
        parser.add_argument(
            "--licence",
            default=None,
            help="The audio's licence, kept on the source and printed in exports' data cards (folder, "
            "manifest, audiofolder, pattern; default: 'Unknown...').",
        )
        parser.add_argument(
            "--pattern",
            default=None,
            help="For --format pattern: the files' paths under PATH, e.g. \"{speaker}/{*}_{label} "
            '({*}).wav"; fields label (required), speaker, gender, split, any other name kept as metadata.',
        )
        parser.add_argument(
            "--release",
            default=None,
            help="For imports whose corpus names splits (audiofolder, a manifest's split column): the "
            "name of the release built with those splits (default: the folder's name, slugified).",
        )
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args, path, fmt, project, source, licence, pattern, release, no_progress, **opts):
        if project:
            proj = Project.objects.filter(slug=project).first()
            if proj is None:
                raise CommandError(f"No project with slug '{project}'.")
        else:
            proj = project_get_default()
        if release is not None and fmt not in TABLE_FORMATS:
            raise CommandError(f"--release is for manifest, audiofolder and pattern imports, not {fmt}.")
        try:
            release_name = imported_release_name(name=release, root=path)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from exc
        bar = tqdm(total=0, unit="file", disable=no_progress, file=self.stderr._out)

        def progress(n, total):
            bar.total = total
            bar.update(1)

        try:
            report = corpus_import(
                project=proj,
                fmt=fmt,
                root=path,
                source_title=source,
                licence=licence,
                pattern=pattern,
                progress=progress,
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        finally:
            bar.close()
        labels = ", ".join(f"{k} {v}" for k, v in sorted(report.by_label.items())) or "none"
        self.stdout.write(
            f"imported {report.imported} clip(s) ({labels}); {report.duplicates} already imported"
        )
        if report.duplicates_within:
            n = len(report.duplicates_within)
            self.stdout.write(
                f"{n} duplicate file{'s' if n != 1 else ''} inside this import: "
                + "; ".join(f"{a} = {b}" for a, b in report.duplicates_within)
            )
        if report.excluded:
            self.stdout.write(
                "excluded by mapping: " + ", ".join(f"{k} {v}" for k, v in sorted(report.excluded.items()))
            )
        if report.augmented_skipped:
            self.stdout.write(f"skipped {report.augmented_skipped} augmented copie(s) (augmented_copy > 0)")
        problems = []
        if report.unmapped:
            problems.append(
                "labels with no mapping (add them in the admin, Label mappings): "
                + ", ".join(f"'{k}' ({v} files)" for k, v in sorted(report.unmapped.items()))
            )
        if report.unknown_names:
            problems.append(
                f"{len(report.unknown_names)} file name(s) not in the {fmt} format, e.g. "
                + "; ".join(report.unknown_names[:5])
            )
        if report.bad_rows:
            problems.append(f"{len(report.bad_rows)} bad row(s): " + "; ".join(report.bad_rows[:10]))
        if report.failed:
            problems.append(f"{len(report.failed)} file(s) failed: " + "; ".join(report.failed[:5]))
        if report.splits and problems:
            self.stdout.write(f"release {release_name} not built: import every file first (problems below)")
        elif report.splits:
            try:
                built = release_create_from_assignment(
                    project=proj,
                    name=release_name,
                    assignment=report.splits,
                    folds=report.folds,
                    imported_from=str(Path(path).resolve()),
                )
            except ValidationError as exc:
                raise CommandError(f"release {release_name} not built: {' '.join(exc.messages)}") from exc
            counts = ", ".join(
                f"{split} {row['items']}" for split, row in built.counts.items() if row["items"]
            )
            self.stdout.write(f"release {built.name} v{built.version}: {built.n_items} item(s) ({counts})")
        elif release is not None:
            self.stdout.write(f"release {release_name} not built: the corpus names no split")
        if problems:
            raise CommandError("\n".join(problems), returncode=1)
