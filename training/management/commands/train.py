"""`python manage.py train --release NAME --family F [--version N] [--epochs N] [--lr X] [...] [--sync]`"""

import json

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from releases.models import Release
from training import services
from training.models import Family, TrainingRun


class Command(BaseCommand):
    help = "Train a model on a release (queued on the gpu queue, or here with --sync)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--release", required=True, help="Release name (latest version unless --version)."
        )
        parser.add_argument("--release-version", type=int, default=None)
        parser.add_argument("--project", default="", help="Project slug (when the name exists in several).")
        parser.add_argument("--family", required=True, choices=Family.values)
        parser.add_argument("--device", default="auto", choices=TrainingRun.Device.values)
        parser.add_argument("--precision", default="fp32", choices=TrainingRun.Precision.values)
        parser.add_argument("--backbone", default="", help="Transformer family: local model directory.")
        parser.add_argument("--epochs", type=int)
        parser.add_argument("--lr", type=float)
        parser.add_argument("--batch-size", type=int)
        parser.add_argument("--weight-decay", type=float)
        parser.add_argument("--patience", type=int)
        parser.add_argument("--seed", type=int)
        parser.add_argument("--hparams", default="{}", help="More overrides as JSON.")
        parser.add_argument("--sync", action="store_true", help="Train in this process (no worker needed).")

    def handle(self, *args, **o):
        releases = Release.objects.filter(name=o["release"])
        if o["project"]:
            releases = releases.filter(project__slug=o["project"])
        projects = sorted(set(releases.values_list("project__slug", flat=True)))
        if len(projects) > 1:
            raise CommandError(
                f"Release '{o['release']}' exists in several projects ({', '.join(projects)}): "
                "name one with --project."
            )
        release = (
            releases.filter(version=o["release_version"]).first()
            if o["release_version"]
            else releases.order_by("-version").first()
        )
        if release is None:
            version = f" v{o['release_version']}" if o["release_version"] else ""
            where = f" in project '{o['project']}'" if o["project"] else ""
            raise CommandError(f"No release '{o['release']}'{version}{where}.")
        try:
            hparams = json.loads(o["hparams"])
        except json.JSONDecodeError as exc:
            raise CommandError(f"--hparams is not valid JSON: {exc}") from exc
        if not isinstance(hparams, dict):
            raise CommandError(
                f"--hparams must be a JSON object such as '{{\"C\": 10}}', not {o['hparams']}."
            )
        for key, name in (
            ("epochs", "epochs"),
            ("lr", "lr"),
            ("batch_size", "batch_size"),
            ("weight_decay", "weight_decay"),
            ("patience", "patience"),
            ("seed", "seed"),
        ):
            if o.get(key) is not None:
                hparams[name] = o[key]
        try:
            run = services.run_create(
                release=release,
                family=o["family"],
                hparams=hparams,
                device=o["device"],
                precision=o["precision"],
                backbone=o["backbone"],
                enqueue=not o["sync"],
            )
        except ValidationError as exc:
            if hasattr(exc, "error_dict"):
                raise CommandError(
                    "; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())
                ) from exc
            raise CommandError(" ".join(exc.messages)) from exc
        if not o["sync"]:
            self.stdout.write(f"run #{run.pk} queued on the gpu queue")
            return
        # A cross-validated run (k-fold release): its folds one after the other, here.
        for child_id in run.children.order_by("fold").values_list("pk", flat=True):
            services.run_execute(run_id=child_id)
        services.run_execute(run_id=run.pk)
        run.refresh_from_db()
        if run.status != "succeeded":
            raise CommandError(f"run #{run.pk} {run.status}: {run.error}")
        if run.cv_metrics:
            cv = run.cv_metrics
            self.stdout.write(
                f"run #{run.pk} succeeded, {cv['k']} folds: "
                f"test UA {cv['mean']['ua']:.3f} ± {cv['std']['ua']:.3f}, "
                f"WA {cv['mean']['wa']:.3f} ± {cv['std']['wa']:.3f}, "
                f"macro-F1 {cv['mean']['macro_f1']:.3f} ± {cv['std']['macro_f1']:.3f} (sample std); "
                f"pooled UA {cv['pooled']['ua']:.3f} over {cv['n_test']} clips"
            )
            return
        m = run.test_metrics
        if not m:  # a release with no test split (an imported corpus's train split only)
            self.stdout.write(
                f"run #{run.pk} succeeded: release {release} has no test split, so no test metrics; "
                "evaluate the model on another release"
            )
            return
        self.stdout.write(
            f"run #{run.pk} succeeded: test UA {m['ua']:.3f}, WA {m['wa']:.3f}, macro-F1 {m['macro_f1']:.3f}"
        )
