"""Admin: promote a model version to pre-labeller, pre-label existing clips in batches."""

from django.contrib import admin, messages
from django.core.exceptions import ValidationError

from core.admin import ProjectScopedAdmin
from inference import services
from inference.models import Prediction, PrelabelJob, Prelabeller
from training.admin import ModelVersionAdmin


@admin.action(description="Promote to the project's active pre-labeller")
def promote(modeladmin, request, queryset):
    for mv in queryset:
        services.prelabeller_activate(project=mv.project, model_version=mv, user=request.user)
        messages.success(request, f"{mv} now pre-labels {mv.project}.")


ModelVersionAdmin.actions = [*getattr(ModelVersionAdmin, "actions", []), promote]


@admin.register(Prelabeller)
class PrelabellerAdmin(ProjectScopedAdmin):
    list_display = ["project", "model_version", "show_to_annotators", "activated_by", "activated_at"]
    actions = ["prelabel_existing"]

    @admin.action(description="Pre-label the existing clips (batched job on the gpu queue)")
    def prelabel_existing(self, request, queryset):
        for pre in queryset:
            try:
                services.prelabel_job_create(
                    project=pre.project, model_version=pre.model_version, user=request.user
                )
            except ValidationError as exc:
                messages.error(request, " ".join(exc.messages))
        messages.success(request, "Pre-labelling queued.")


@admin.register(Prediction)
class PredictionAdmin(ProjectScopedAdmin):
    project_field = "clip__recording__project"
    list_display = ["clip", "model_version", "top_label", "top_probability", "entropy", "created_at"]
    list_filter = ["model_version", "top_label"]
    raw_id_fields = ["clip"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(PrelabelJob)
class PrelabelJobAdmin(ProjectScopedAdmin):
    list_display = ["id", "project", "model_version", "status", "progress", "n_done", "n_total", "created_at"]
    readonly_fields = [f.name for f in PrelabelJob._meta.fields]

    def has_add_permission(self, request):
        return False
