"""Admin pages of the releases app: corpus label mappings (editable), gold labels and releases
(records: read-only; a release is exported from here as a Celery job)."""

from django.contrib import admin, messages
from django.utils.html import format_html

from core.admin import ReadOnlyAdmin
from releases.export import release_export_create
from releases.models import GoldLabel, LabelMapping, Release, ReleaseExport


@admin.register(LabelMapping)
class LabelMappingAdmin(admin.ModelAdmin):
    list_display = ["corpus", "original_label", "emotion", "excluded"]
    list_filter = ["corpus", "excluded"]
    list_editable = ["emotion", "excluded"]


@admin.register(GoldLabel)
class GoldLabelAdmin(ReadOnlyAdmin):
    project_field = "clip__recording__project"
    list_display = ["clip", "corpus", "original_label", "emotion", "gender"]
    list_filter = ["corpus", "emotion"]


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
