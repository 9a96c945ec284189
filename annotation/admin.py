"""Admin pages of validation, labelling, consensus and releases.

The guideline (rejection reasons, label schema, corpus label mappings) and per-project settings
are editable here. Votes, labels and releases are records: read-only, never edited by hand.
"""

from django.contrib import admin, messages
from django.utils.html import format_html

from annotation import consensus
from annotation.models import (
    Adjudication,
    Annotation,
    AnnotationConfig,
    Assignment,
    ClipConsensus,
    ClipDecision,
    Flag,
    GoldLabel,
    LabelMapping,
    LabelOption,
    RejectionReason,
    Release,
    ReleaseExport,
    ValidationVote,
)
from annotation.releases.export import release_export_create


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(AnnotationConfig)
class AnnotationConfigAdmin(admin.ModelAdmin):
    list_display = [
        "project",
        "labels_per_clip",
        "validation_votes_needed",
        "assignment_minutes",
        "queue_policy",
        "consensus_method",
    ]
    actions = ["recompute_consensus"]

    @admin.action(description="Recompute the consensus of every labelled clip")
    def recompute_consensus(self, request, queryset):
        for config in queryset:
            result = consensus.consensus_recompute(project=config.project)
            messages.success(request, f"{config.project}: {result}")


@admin.register(RejectionReason)
class RejectionReasonAdmin(admin.ModelAdmin):
    list_display = ["code", "text", "order", "active"]
    list_editable = ["order", "active"]


@admin.register(LabelOption)
class LabelOptionAdmin(admin.ModelAdmin):
    list_display = ["kind", "code", "name", "tier", "shortcut", "order", "active"]
    list_filter = ["kind", "tier", "active"]
    list_editable = ["order", "active"]


@admin.register(LabelMapping)
class LabelMappingAdmin(admin.ModelAdmin):
    list_display = ["corpus", "original_label", "emotion", "excluded"]
    list_filter = ["corpus", "excluded"]
    list_editable = ["emotion", "excluded"]


@admin.register(Assignment)
class AssignmentAdmin(ReadOnlyAdmin):
    list_display = ["kind", "clip", "user", "state", "served_at", "expires_at"]
    list_filter = ["kind", "state"]
    raw_id_fields = ["clip"]


@admin.register(ValidationVote)
class ValidationVoteAdmin(ReadOnlyAdmin):
    list_display = ["clip", "validator", "accept", "active", "created_at"]
    list_filter = ["accept", "active"]


@admin.register(ClipDecision)
class ClipDecisionAdmin(ReadOnlyAdmin):
    list_display = ["clip", "accepted", "by_curator", "created_at"]


@admin.register(Annotation)
class AnnotationAdmin(ReadOnlyAdmin):
    list_display = ["clip", "annotator", "emotion", "gender", "time_spent_ms", "created_at"]
    list_filter = ["emotion", "gender"]
    search_fields = ["annotator__username"]


@admin.register(Flag)
class FlagAdmin(ReadOnlyAdmin):
    list_display = ["clip", "user", "reason", "created_at"]


@admin.register(ClipConsensus)
class ClipConsensusAdmin(ReadOnlyAdmin):
    list_display = ["clip", "status", "emotion", "gender", "agreement", "method", "updated_at"]
    list_filter = ["status", "emotion", "method"]


@admin.register(GoldLabel)
class GoldLabelAdmin(ReadOnlyAdmin):
    list_display = ["clip", "corpus", "original_label", "emotion", "gender"]
    list_filter = ["corpus", "emotion"]


@admin.register(Adjudication)
class AdjudicationAdmin(ReadOnlyAdmin):
    list_display = ["clip", "curator", "decision", "emotion", "created_at"]


class ReleaseExportInline(admin.TabularInline):
    model = ReleaseExport
    fields = ["status", "progress", "size_bytes", "archive", "error", "created_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False


@admin.register(Release)
class ReleaseAdmin(ReadOnlyAdmin):
    """Releases are immutable: built on the releases page, the API or `release_build`."""

    list_display = [
        "name",
        "version",
        "project",
        "n_items",
        "short_checksum",
        "platform_version",
        "created_at",
    ]
    list_filter = ["project", "name"]
    inlines = [ReleaseExportInline]
    actions = ["export"]

    @admin.display(description="sha256")
    def short_checksum(self, release):
        return format_html("<code>{}</code>", release.checksum[:16])

    @admin.action(description="Export the archive (Celery job)")
    def export(self, request, queryset):
        for release in queryset:
            release_export_create(release=release, created_by=request.user)
        messages.success(request, f"Queued the export of {queryset.count()} release(s).")
