"""Training from the admin: add a run (it is queued on the `gpu` queue), cancel, retry, and watch
its live chart on the change page. A run added on a "kfold" release is a cross-validated parent
with one child run per fold (`services.run_create`); cancel and retry act on its folds;
evaluate a model version on another release (Evaluations -> Add, or the model versions' action
"Evaluate on release…", which opens that form)."""

import json

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils.html import format_html

from core import display
from core.admin import ProjectScopedAdmin, admin_change_link, mapping_table, rows_table
from core.errors import ApplicationError
from releases.models import ReleaseItem
from training import services
from training.ml import families
from training.models import Evaluation, ModelVersion, TrainingRun


class TrainingRunForm(forms.ModelForm):
    class Meta:
        model = TrainingRun
        fields = ["name", "release", "family", "hparams", "device", "precision", "backbone"]
        help_texts = {
            "hparams": 'JSON overrides, e.g. {"epochs": 20, "learning_rate": 3e-5}. Defaults per family: '
            + "; ".join(f"{f}: {json.dumps(families.default_hparams(f))}" for f in ("classical", "mfcc_lstm"))
        }

    def clean(self):
        cleaned = super().clean()
        if self.errors or self.instance.pk:
            return cleaned
        # The service's checks, so that a refused run comes back as the form with its message
        # (not as "added successfully" with nothing added).
        services.run_check(
            release=cleaned["release"],
            family=cleaned["family"],
            hparams=cleaned.get("hparams"),
            device=cleaned["device"],
            precision=cleaned["precision"],
            backbone=cleaned.get("backbone") or "",
        )
        return cleaned


@admin.register(TrainingRun)
class TrainingRunAdmin(ProjectScopedAdmin):
    form = TrainingRunForm
    change_form_template = "admin/training/trainingrun/change_form.html"
    list_display = [
        "id",
        "__str__",
        "family",
        "release",
        "status",
        "progress_bar",
        "test_ua",
        "parent",
        "created_at",
    ]
    list_filter = ["status", "family", "project"]
    actions = ["cancel", "retry"]
    display_instead = {
        "progress": "progress_bar",
        "hparams": "hparams_table",
        "resolved_hparams": "resolved_hparams_table",
        "history": "history_table",
        "test_metrics": "test_metrics_table",
        "cv_metrics": "cv_metrics_table",
    }

    def get_readonly_fields(self, request, obj=None):
        return self.readable([f.name for f in TrainingRun._meta.fields]) if obj else []

    @admin.display(description="progress")
    def progress_bar(self, run):
        return format_html(
            '<progress max="100" value="{}"></progress> {} (epoch {})',
            round(run.progress * 100, 1),
            display.percent(run.progress),
            run.epoch,
        )

    @admin.display(description="hyper-parameters asked for")
    def hparams_table(self, run):
        return mapping_table(run.hparams)

    @admin.display(description="hyper-parameters used")
    def resolved_hparams_table(self, run):
        return mapping_table(run.resolved_hparams)

    @admin.display(description="history (per epoch)")
    def history_table(self, run):
        return rows_table(run.history)

    @admin.display(description="test metrics")
    def test_metrics_table(self, run):
        return mapping_table(run.test_metrics)

    @admin.display(description="cross-validation metrics")
    def cv_metrics_table(self, run):
        return mapping_table(run.cv_metrics)

    @admin.display(description="test UA")
    def test_ua(self, run):
        if run.cv_metrics:  # a cross-validated run: mean ± sample std over its folds
            cv = run.cv_metrics
            return f"{cv['mean']['ua']:.3f} ± {cv['std']['ua']:.3f} ({cv['k']} folds)"
        return (
            f"{run.test_metrics['ua']:.3f}"
            if run.test_metrics and run.test_metrics.get("ua") is not None
            else "—"
        )

    def save_model(self, request, obj, form, change):
        if change:
            return
        d = form.cleaned_data
        try:
            run = services.run_create(
                release=d["release"],
                family=d["family"],
                hparams=d.get("hparams") or {},
                device=d["device"],
                precision=d["precision"],
                backbone=d.get("backbone", ""),
                name=d.get("name", ""),
                created_by=request.user,
            )
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
            return
        obj.pk = run.pk
        folds = run.children.count()
        messages.success(
            request,
            format_html(
                "{} queued on the gpu queue{}.",
                admin_change_link(run, f"Run #{run.pk}"),
                f": cross-validation, one run per fold ({folds} folds)" if folds else "",
            ),
        )

    @admin.action(description="Cancel (stops at the next step, keeps the best checkpoint)")
    def cancel(self, request, queryset):
        for run in queryset:
            try:
                services.run_cancel(run=run)
            except ValidationError as exc:
                messages.warning(request, " ".join(exc.messages))
                continue
            messages.success(
                request, format_html("Cancel asked of {}.", admin_change_link(run, f"run #{run.pk}"))
            )

    @admin.action(description="Retry (resumes from the last checkpoint)")
    def retry(self, request, queryset):
        for run in queryset:
            try:
                services.run_retry(run=run)
            except ValidationError as exc:
                messages.warning(request, " ".join(exc.messages))
                continue
            messages.success(
                request, format_html("Queued again: {}.", admin_change_link(run, f"run #{run.pk}"))
            )


@admin.register(ModelVersion)
class ModelVersionAdmin(ProjectScopedAdmin):
    list_display = ["name", "family", "release", "test_ua", "created_at"]
    list_filter = ["family", "project"]
    readonly_fields = [f.name for f in ModelVersion._meta.fields]
    actions = ["evaluate_on_release"]
    display_instead = {"config": "config_table", "metrics": "metrics_table"}

    @admin.display(description="config")
    def config_table(self, mv):
        return mapping_table(mv.config)

    @admin.display(description="metrics")
    def metrics_table(self, mv):
        return mapping_table(mv.metrics)

    def has_add_permission(self, request):
        return False

    @admin.display(description="test UA")
    def test_ua(self, mv):
        ua = (mv.metrics.get("test") or {}).get("ua")
        return f"{ua:.3f}" if ua is not None else "—"

    @admin.action(description="Evaluate on release…")
    def evaluate_on_release(self, request, queryset):
        """Open the evaluation form for the first selected model version (one form per model)."""
        mv = queryset.first()
        if len(queryset) > 1:
            messages.info(request, f"One model at a time: the form is for {mv}.")
        return HttpResponseRedirect(f"{reverse('admin:training_evaluation_add')}?model_version={mv.pk}")


class EvaluationForm(forms.ModelForm):
    split = forms.ChoiceField(choices=[("", "All items"), *ReleaseItem.Split.choices], required=False)

    class Meta:
        model = Evaluation
        fields = ["model_version", "release", "split"]

    def clean(self):
        """The service's checks, so that a refused evaluation comes back as the form with its
        message (not as "added successfully" with nothing added)."""
        data = super().clean()
        if data.get("model_version") and data.get("release"):
            try:
                services.evaluation_check(
                    model_version=data["model_version"],
                    release=data["release"],
                    split=data.get("split") or "",
                )
            except ApplicationError as exc:
                raise ValidationError(exc.message) from exc
        return data


@admin.register(Evaluation)
class EvaluationAdmin(ProjectScopedAdmin):
    """Evaluations: added through `training.services.evaluation_create` (the model version and
    release choices are the user's projects'; a release of another project than the model's is
    refused with its message), then read only."""

    form = EvaluationForm
    list_display = ["id", "model_version", "release", "split_display", "status", "progress_bar", "n", "ua"]
    list_filter = ["status", "project"]
    display_instead = {
        "progress": "progress_bar",
        "metrics": "metrics_table",
        "n_excluded_unmatched": "unmatched_table",
    }

    @admin.display(description="progress")
    def progress_bar(self, ev):
        return format_html(
            '<progress max="100" value="{}"></progress> {}',
            round(ev.progress * 100, 1),
            display.percent(ev.progress),
        )

    def get_readonly_fields(self, request, obj=None):
        return self.readable([f.name for f in Evaluation._meta.fields]) if obj else []

    def has_change_permission(self, request, obj=None):
        return obj is None and super().has_change_permission(request, obj)

    @admin.display(description="metrics")
    def metrics_table(self, ev):
        return mapping_table(ev.metrics)

    @admin.display(description="left out: labels the model does not know")
    def unmatched_table(self, ev):
        return mapping_table(ev.n_excluded_unmatched)

    @admin.display(description="split")
    def split_display(self, ev):
        return ev.split_display

    @admin.display(description="n")
    def n(self, ev):
        return (ev.metrics or {}).get("n", "—")

    @admin.display(description="UA")
    def ua(self, ev):
        ua = (ev.metrics or {}).get("ua")
        return f"{ua:.3f}" if ua is not None else "—"

    def save_model(self, request, obj, form, change):
        if change:
            return
        d = form.cleaned_data
        try:
            ev = services.evaluation_create(
                model_version=d["model_version"],
                release=d["release"],
                split=d.get("split") or "",
                created_by=request.user,
            )
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
            return
        except ApplicationError as exc:
            messages.error(request, exc.message)
            return
        obj.pk = ev.pk
        messages.success(
            request, format_html("{} queued on the gpu queue.", admin_change_link(ev, f"Evaluation #{ev.pk}"))
        )
