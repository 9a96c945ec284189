"""Labelled data in and out of the platform (the `releases` app).

Imports: GoldLabel (a label that came with an imported corpus) and LabelMapping (how a corpus's
labels map onto the project schema). Releases: Release (immutable, versioned), ReleaseItem (one
clip in one split) and ReleaseExport (a job row writing the release's archive).

The tables were created by the `annotation` app and keep their names (`annotation_*`): the move
was a state-only migration, so no row moved.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from annotation.models import LabelOption
from core.models import JobRow, Project
from corpus.models import Clip


class GoldLabel(models.Model):
    """A label that came with an imported corpus (RAVDESS, EmoDB...): counts as gold, not as votes.

    It also keeps what the corpus said about the clip beyond its label and speaker: its split and
    its other metadata (releases.importers)."""

    clip = models.OneToOneField(Clip, on_delete=models.CASCADE, related_name="gold_label")
    corpus = models.CharField(max_length=30)
    original_label = models.CharField(max_length=60)
    emotion = models.ForeignKey(LabelOption, on_delete=models.PROTECT, related_name="+")
    gender = models.ForeignKey(LabelOption, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    # The split the corpus put the clip in (an imported release: audiofolder metadata, a manifest's
    # `split` column), "" when it says none.
    split = models.CharField(max_length=10, blank=True)
    # Everything else the corpus says about the clip (a manifest's extra columns, its transcript:
    # the platform keeps no other transcripts), as {column: value}.
    metadata = models.JSONField(default=dict, blank=True)

    class Meta:
        db_table = "annotation_goldlabel"

    def __str__(self) -> str:
        return f"clip #{self.clip_id}: {self.corpus} {self.original_label}"


class LabelMapping(models.Model):
    """How an imported corpus's labels map onto the project schema (editable; never guessed)."""

    corpus = models.CharField(max_length=30)
    original_label = models.CharField(max_length=60)
    emotion = models.ForeignKey(
        LabelOption,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="Blank together with 'excluded' means clips with this label are not imported.",
    )
    excluded = models.BooleanField(default=False)

    class Meta:
        db_table = "annotation_labelmapping"
        constraints = [
            models.UniqueConstraint(fields=["corpus", "original_label"], name="label_mapping_unique")
        ]
        ordering = ["corpus", "original_label"]

    def __str__(self) -> str:
        target = "excluded" if self.excluded else (self.emotion.code if self.emotion else "?")
        return f"{self.corpus}: {self.original_label} -> {target}"


class Release(models.Model):
    """An immutable, versioned dataset: its parameters, its manifest and its checksum."""

    class Status(models.TextChoices):
        BUILT = "built", "Built"
        FAILED = "failed", "Failed"

    project = models.ForeignKey(Project, on_delete=models.PROTECT, related_name="releases")
    name = models.SlugField(max_length=80)
    version = models.PositiveIntegerField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.BUILT)
    params = models.JSONField(
        help_text="Everything that built it: label set, agreement, balancing, split, seed."
    )
    manifest = models.FileField(upload_to="releases/", max_length=500)
    checksum = models.CharField(max_length=64, help_text="sha256 of the manifest bytes.")
    counts = models.JSONField(default=dict, help_text="split x label x gender counts")
    platform_version = models.CharField(max_length=20)
    n_items = models.PositiveIntegerField(default=0)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "annotation_release"
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["project", "name", "version"], name="release_unique_version")
        ]

    def __str__(self) -> str:
        return f"{self.name} v{self.version}"

    @property
    def split_counts(self) -> dict[str, dict[str, int]]:
        """{split: {label: items}} from `counts` (releases.splits.split_report: the splits are its
        top-level keys, each with "labels"; "augmented_copies" is not a split)."""
        return {
            split: {label: row["items"] for label, row in report["labels"].items()}
            for split, report in self.counts.items()
            if isinstance(report, dict) and "labels" in report
        }


class ReleaseItem(models.Model):
    """One clip (or augmented copy) of a release, in its split and, for a "kfold" release, fold."""

    class Split(models.TextChoices):
        TRAIN = "train", "Train"
        VALIDATION = "validation", "Validation"
        TEST = "test", "Test"

    release = models.ForeignKey(Release, on_delete=models.CASCADE, related_name="items")
    clip = models.ForeignKey(Clip, on_delete=models.PROTECT, related_name="release_items")
    split = models.CharField(max_length=10, choices=Split.choices)
    label = models.CharField(max_length=30)
    gender = models.CharField(max_length=30, blank=True)
    group = models.CharField(max_length=200, blank=True)
    # 0: the clip itself; n > 0: the n-th augmented copy (oversampling, training split only).
    copy_index = models.PositiveSmallIntegerField(default=0)
    file_name = models.CharField(max_length=300)
    # The cross-validation fold (0 .. k-1) of a "kfold" release, whose items all keep split
    # "train"; null in a holdout release.
    fold = models.PositiveSmallIntegerField(null=True, blank=True)

    class Meta:
        db_table = "annotation_releaseitem"
        constraints = [
            models.UniqueConstraint(fields=["release", "clip", "copy_index"], name="release_item_unique"),
        ]
        indexes = [models.Index(fields=["release", "split", "label"], name="release_item_split")]

    def __str__(self) -> str:
        return self.file_name


class ReleaseExport(JobRow):
    """Writing a release's archive: a job row (status, progress, error) run by Celery."""

    release = models.ForeignKey(Release, on_delete=models.CASCADE, related_name="exports")
    archive = models.FileField(upload_to="exports/", max_length=500, blank=True)
    size_bytes = models.BigIntegerField(null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)

    class Meta:
        db_table = "annotation_releaseexport"
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"export #{self.pk} of release #{self.release_id} ({self.status})"
