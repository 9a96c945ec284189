"""`python manage.py import_corpus --format {ravdess,emodb,tess,crema-d,savee,folder} PATH`"""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from core.access import project_get_default
from core.models import Project
from releases.importers import PARSERS, corpus_import


class Command(BaseCommand):
    help = "Import a labelled emotion corpus as gold-labelled clips (labels mapped through LabelMapping)."

    def add_arguments(self, parser):
        parser.add_argument("path", type=Path)
        parser.add_argument("--format", required=True, choices=sorted(PARSERS), dest="fmt")
        parser.add_argument("--project", default=None, help="Project slug (default: tuniser).")
        parser.add_argument("--source", default=None, help="Source title (default: the corpus name).")
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args, path, fmt, project, source, no_progress, **opts):
        if project:
            proj = Project.objects.filter(slug=project).first()
            if proj is None:
                raise CommandError(f"No project with slug '{project}'.")
        else:
            proj = project_get_default()
        bar = tqdm(total=0, unit="file", disable=no_progress, file=self.stderr._out)

        def progress(n, total):
            bar.total = total
            bar.update(1)

        try:
            report = corpus_import(project=proj, fmt=fmt, root=path, source_title=source, progress=progress)
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
        if report.failed:
            problems.append(f"{len(report.failed)} file(s) failed: " + "; ".join(report.failed[:5]))
        if problems:
            raise CommandError("\n".join(problems), returncode=1)
