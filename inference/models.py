"""Predictions of trained models on clips, the project's active pre-labeller, batch jobs."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from core.models import JobRow, Project
from corpus.models import Clip
from training.models import ModelVersion


class Prelabeller(models.Model):
    """The one ModelVersion that pre-labels a project's new clips."""

    project = models.OneToOneField(Project, on_delete=models.CASCADE, related_name="prelabeller")
    model_version = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="+")
    # Hidden by default: a suggestion on screen anchors annotators. When shown, the annotation
    # records which prediction was shown.
    show_to_annotators = models.BooleanField(default=False)
    activated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    activated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.model_version} pre-labels {self.project}"


class Prediction(models.Model):
    clip = models.ForeignKey(Clip, on_delete=models.CASCADE, related_name="predictions")
    model_version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="predictions")
    probabilities = models.JSONField(help_text="{label: probability}")
    top_label = models.CharField(max_length=30, db_index=True)
    top_probability = models.FloatField()
    entropy = models.FloatField(help_text="Shannon entropy of the probabilities, in bits.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            # A clip already predicted by a model version is not predicted again.
            models.UniqueConstraint(fields=["model_version", "clip"], name="prediction_unique_per_version"),
        ]

    def __str__(self) -> str:
        return f"clip #{self.clip_id}: {self.top_label} ({self.top_probability:.2f})"


class PrelabelJob(JobRow):
    """Pre-labelling a project's existing clips in batches: a job row run on the `gpu` queue."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="prelabel_jobs")
    model_version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="prelabel_jobs")
    n_total = models.PositiveIntegerField(default=0)
    n_done = models.PositiveIntegerField(default=0)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"pre-label job #{self.pk} ({self.status})"
