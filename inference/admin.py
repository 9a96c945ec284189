"""Admin: promote a model version to pre-labeller, pre-label existing clips in batches."""

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.utils.html import format_html

from core import display
from core.admin import ProjectScopedAdmin, admin_change_link, mapping_table
from inference import services
from inference.models import Prediction, PrelabelJob, Prelabeller
from training.admin import ModelVersionAdmin


@admin.action(description="Promote to the project's active pre-labeller")
def promote(modeladmin, request, queryset):
    for mv in queryset:
        services.prelabeller_activate(project=mv.project, model_version=mv, user=request.user)
        # "Model version" first: the admin capitalises a message's first letter, and a model's
        # name is written as its owner wrote it.
        messages.success(
            request, format_html("Model version {} now pre-labels project {}.", mv.name, mv.project)
        )


ModelVersionAdmin.actions = [*getattr(ModelVersionAdmin, "actions", []), promote]


@admin.register(Prelabeller)
class PrelabellerAdmin(ProjectScopedAdmin):
    list_display = ["project", "model_version", "show_to_annotators", "activated_by", "activated_at"]
    actions = ["prelabel_existing"]

    @admin.action(description="Pre-label the existing clips (batched job on the gpu queue)")
    def prelabel_existing(self, request, queryset):
        for pre in queryset:
            try:
                job = services.prelabel_job_create(
                    project=pre.project, model_version=pre.model_version, user=request.user
                )
            except ValidationError as exc:
                messages.error(request, " ".join(exc.messages))
                continue
            messages.success(
                request,
                format_html(
                    "Pre-labelling of project {} queued: {}.",
                    pre.project,
                    admin_change_link(job, f"pre-label job #{job.pk}"),
                ),
            )


@admin.register(Prediction)
class PredictionAdmin(ProjectScopedAdmin):
    project_field = "clip__recording__project"
    list_display = ["clip", "model_version", "top_label", "top_p", "entropy_bits", "created_at"]
    list_filter = ["model_version", "top_label"]
    raw_id_fields = ["clip"]
    display_instead = {
        "probabilities": "probability_table",
        "top_probability": "top_p",
        "entropy": "entropy_bits",
    }

    @admin.display(description="top probability", ordering="top_probability")
    def top_p(self, prediction):
        return display.probability(prediction.top_probability)

    @admin.display(description="entropy", ordering="entropy")
    def entropy_bits(self, prediction):
        return f"{prediction.entropy:.3f} bits"

    @admin.display(description="probabilities")
    def probability_table(self, prediction):
        return mapping_table(prediction.probabilities, fmt=display.probability)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(PrelabelJob)
class PrelabelJobAdmin(ProjectScopedAdmin):
    list_display = [
        "id",
        "project",
        "model_version",
        "status",
        "progress_percent",
        "clips_done",
        "clips_total",
        "created_at",
    ]
    readonly_fields = [f.name for f in PrelabelJob._meta.fields]
    display_instead = {"progress": "progress_percent"}

    @admin.display(description="progress", ordering="progress")
    def progress_percent(self, job):
        return display.percent(job.progress)

    @admin.display(description="clips done", ordering="n_done")
    def clips_done(self, job):
        return job.n_done

    @admin.display(description="clips", ordering="n_total")
    def clips_total(self, job):
        return job.n_total

    def has_add_permission(self, request):
        return False
