"""Admin pages of the releases app: corpus label mappings (editable), gold labels and releases
(records: read-only; a release is exported from here as a Celery job)."""

from django.contrib import admin, messages
from django.utils.html import format_html

from core import display
from core.admin import ReadOnlyAdmin, admin_change_link, json_block, mapping_table
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
    list_display = ["clip", "corpus", "original_label", "emotion", "gender", "split"]
    list_filter = ["corpus", "emotion", "split"]


class ReleaseExportInline(admin.TabularInline):
    model = ReleaseExport
    fields = ["status", "progress_percent", "size", "archive", "error", "created_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    @admin.display(description="progress")
    def progress_percent(self, export):
        return display.percent(export.progress)

    @admin.display(description="size")
    def size(self, export):
        return display.size(export.size_bytes)


@admin.register(Release)
class ReleaseAdmin(ReadOnlyAdmin):
    """Releases are immutable: built on the releases page, the API or `release_build`."""

    list_display = [
        "name",
        "version",
        "project",
        "items",
        "short_checksum",
        "platform_version",
        "created_at",
    ]
    list_filter = ["project", "name"]
    inlines = [ReleaseExportInline]
    actions = ["export"]
    display_instead = {"params": "parameters", "counts": "split_counts"}

    @admin.display(description="items", ordering="n_items")
    def items(self, release):
        return release.n_items

    @admin.display(description="parameters")
    def parameters(self, release):
        return mapping_table(release.params)

    @admin.display(description="counts (split x label x gender)")
    def split_counts(self, release):
        return json_block(release.counts)

    @admin.display(description="sha256")
    def short_checksum(self, release):
        return format_html("<code>{}</code>", release.checksum[:16])

    @admin.action(description="Export the archive (Celery job)")
    def export(self, request, queryset):
        for release in queryset:
            job = release_export_create(release=release, created_by=request.user)
            messages.success(
                request,
                format_html(
                    "Export #{} of release {} queued: its progress shows on the release's page.",
                    job.pk,
                    admin_change_link(release),
                ),
            )
