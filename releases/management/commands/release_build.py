"""`python manage.py release_build NAME [--labels happy,sad,angry,neutral] [--min-agreement 2] ...`"""

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from core import display
from core.access import project_get_default
from core.models import Project
from releases.balance import STRATEGIES
from releases.build import GROUP_KEYS, ReleaseParams, release_build
from releases.export import release_export_create, release_export_execute


class Command(BaseCommand):
    help = "Build a new version of a balanced, leak-free dataset release (and optionally export it)."

    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument("--project", default=None)
        parser.add_argument("--labels", default="happy,sad,angry,neutral")
        parser.add_argument("--min-agreement", type=int, default=2, help="2: >= 2/3; 3: 3/3 only")
        parser.add_argument("--no-adjudicated", action="store_true")
        parser.add_argument("--no-gold", action="store_true")
        parser.add_argument("--balancing", default="undersample", choices=STRATEGIES)
        parser.add_argument("--cap", type=int, default=None)
        parser.add_argument("--split", default="70/15/15")
        parser.add_argument(
            "--folds",
            type=int,
            default=None,
            help="Cross-validation: k folds grouped by --group-by instead of --split (0: one fold per group)",
        )
        parser.add_argument("--group-by", default="speaker", choices=GROUP_KEYS)
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--export", action="store_true", help="Also write the archive, in this process.")

    def handle(self, *args, **o):
        project = Project.objects.filter(slug=o["project"]).first() if o["project"] else project_get_default()
        if project is None:
            raise CommandError(f"No project with slug '{o['project']}'.")
        params = ReleaseParams(
            name=o["name"],
            label_set=[x.strip() for x in o["labels"].split(",") if x.strip()],
            min_agreement=o["min_agreement"],
            include_adjudicated=not o["no_adjudicated"],
            include_gold=not o["no_gold"],
            balancing=o["balancing"],
            cap=o["cap"],
            split=o["split"],
            split_kind="holdout" if o["folds"] is None else "kfold",
            folds=5 if o["folds"] is None else o["folds"],
            group_by=o["group_by"],
            seed=o["seed"],
        )
        try:
            release = release_build(project=project, params=params)
        except ValidationError as exc:
            raise CommandError(
                " ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())
                if hasattr(exc, "error_dict")
                else " ".join(exc.messages)
            ) from exc
        self.stdout.write(
            f"release {release.name} v{release.version}: {display.count(release.n_items, 'item')}, "
            f"sha256 {release.checksum}"
        )
        for split, labels in release.split_counts.items():
            if not sum(labels.values()):
                continue  # an 80/20 release has no validation split: leave it out, as the data card does
            self.stdout.write(
                f"  {split:<10} {display.count(sum(labels.values()), 'item', 'items'):>11}: "
                + ", ".join(f"{k} {v}" for k, v in sorted(labels.items()))
            )
        if release.counts.get("augmented_copies"):
            copies = release.counts["augmented_copies"]
            self.stdout.write(
                "  augmented copies (train): " + ", ".join(f"{k} {v}" for k, v in copies.items())
            )
        if o["export"]:
            job = release_export_create(release=release, enqueue=False)
            release_export_execute(export_id=job.pk)
            job.refresh_from_db()
            if job.status != "succeeded":
                raise CommandError(f"export failed: {job.error}")
            self.stdout.write(
                f"archive: {job.archive.path if hasattr(job.archive, 'path') else job.archive.name} "
                f"({job.size_bytes / 2**20:.1f} MiB)"
            )
