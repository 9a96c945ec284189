"""Training runs (jobs as rows, live history) and the model versions they produce."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.urls import reverse

from core.models import JobRow, Project
from releases.models import Release


class Family(models.TextChoices):
    TRANSFORMER = "transformer", "Pretrained speech transformer + TuniSER head"
    MFCC_LSTM = "mfcc_lstm", "MFCC + LSTM (attentive pooling)"
    LOGMEL_CNN = "logmel_cnn", "Log-mel CNN (attentive pooling)"
    CLASSICAL = "classical", "Hand-crafted features + scikit-learn"
    MEL_IMAGE = "mel_image", "Mel-spectrogram image CNN (VGG/ResNet)"


class TrainingRun(JobRow):
    class Device(models.TextChoices):
        AUTO = "auto", "Auto (GPU if present)"
        CUDA = "cuda", "CUDA GPU"
        CPU = "cpu", "CPU"

    class Precision(models.TextChoices):
        BF16 = "bf16", "bfloat16"
        FP16 = "fp16", "float16"
        FP32 = "fp32", "float32"

    project = models.ForeignKey(Project, on_delete=models.PROTECT, related_name="training_runs")
    release = models.ForeignKey(Release, on_delete=models.PROTECT, related_name="training_runs")
    name = models.CharField(max_length=120, blank=True)
    family = models.CharField(max_length=20, choices=Family.choices)
    hparams = models.JSONField(default=dict, blank=True, help_text="Overrides of the family's defaults.")
    device = models.CharField(max_length=8, choices=Device.choices, default=Device.AUTO)
    precision = models.CharField(max_length=8, choices=Precision.choices, default=Precision.FP32)
    backbone = models.CharField(
        max_length=500,
        blank=True,
        help_text="Transformer family: a local directory with a saved wav2vec 2.0 / HuBERT / WavLM model.",
    )

    cancel_requested = models.BooleanField(default=False)
    epoch = models.PositiveIntegerField(default=0)
    step = models.PositiveIntegerField(default=0)
    total_steps = models.PositiveIntegerField(default=0)
    history = models.JSONField(
        default=list, blank=True, help_text="Per epoch: train/val loss, val UA/WA/macro-F1."
    )
    resumed_from_epoch = models.PositiveIntegerField(null=True, blank=True)
    resolved_hparams = models.JSONField(default=dict, blank=True)
    test_metrics = models.JSONField(null=True, blank=True)
    used_device = models.CharField(max_length=20, blank=True)
    # Cross-validation (a run on a "kfold" release): the parent run trains nothing itself; it has
    # one child run per fold (`parent`, `fold`), and its status follows theirs
    # (`training.services.run_parent_sync`). `cv_metrics` is the parent's summary once every
    # child succeeded (`training.ml.metrics.cross_validation_summary`).
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.CASCADE, related_name="children"
    )
    fold = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="A cross-validation child's test fold (0 .. k-1)."
    )
    cv_metrics = models.JSONField(
        null=True, blank=True, help_text="Cross-validated parent: per fold and mean ± std metrics."
    )
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.name or f"Run #{self.pk} ({self.family} on {self.release})"

    def get_absolute_url(self) -> str:
        return reverse("training:run-detail", args=[self.pk])


class ModelVersion(models.Model):
    """A trained model: weights + config + label map + preprocessing + metrics, on disk under
    TUNISER_MODELS_DIR (a directory per version), and the release and platform that made it."""

    project = models.ForeignKey(Project, on_delete=models.PROTECT, related_name="model_versions")
    run = models.OneToOneField(TrainingRun, on_delete=models.PROTECT, related_name="model_version")
    release = models.ForeignKey(Release, on_delete=models.PROTECT, related_name="model_versions")
    family = models.CharField(max_length=20, choices=Family.choices)
    name = models.CharField(max_length=200)
    path = models.CharField(
        max_length=500, help_text="Directory of the artifact (relative to TUNISER_MODELS_DIR)."
    )
    labels = models.JSONField()
    config = models.JSONField(default=dict)
    metrics = models.JSONField(default=dict)
    platform_version = models.CharField(max_length=20)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.name

    @property
    def artifact_dir(self):
        from pathlib import Path

        return Path(settings.TUNISER["MODELS_DIR"]) / self.path


class Evaluation(JobRow):
    """A model version evaluated on a release of its project (all items, or one split): a job
    row run on the `gpu` queue (`training.services.evaluation_execute`).

    Cross-corpus evaluation (train on RAVDESS, test on EmoDB, as TuniSER trained on RAVDESS and
    tested on Tunisian speech). Only original items (copy index 0) are evaluated; items the model
    was trained or validated on (`training.selectors.model_version_seen_clip_ids`) and items
    whose label the model does not know are left out and counted.
    """

    project = models.ForeignKey(Project, on_delete=models.PROTECT, related_name="evaluations")
    model_version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="evaluations")
    release = models.ForeignKey(Release, on_delete=models.PROTECT, related_name="evaluations")
    split = models.CharField(max_length=10, blank=True, help_text='A split of the release; "" for all items.')
    metrics = models.JSONField(
        null=True,
        blank=True,
        help_text="ua, wa, macro_f1, n, labels, matched_labels, confusion, per_class "
        "(training.services.evaluation_metrics).",
    )
    n_excluded_seen = models.PositiveIntegerField(
        default=0, help_text="Items left out: the model was trained or validated on their clip."
    )
    n_excluded_unmatched = models.JSONField(
        default=dict, blank=True, help_text="{label: items} left out: labels the model does not know."
    )
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        on = f"{self.release}/{self.split}" if self.split else f"{self.release}"
        return f"Evaluation #{self.pk}: {self.model_version} on {on}"

    @property
    def split_display(self) -> str:
        """The evaluated split as tables read it: its name, or "all items"."""
        return self.split or "all items"
