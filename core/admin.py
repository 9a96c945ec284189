"""Admin building blocks every app uses: project scoping and read-only records.

A staff user who is not a superuser sees, in every list, filter, choice and raw-id lookup, only
the rows of the projects they belong to (core.access.projects_for_user); what they may do with
them is their role group's model permissions (core.roles.ROLE_PERMISSIONS).
"""

from __future__ import annotations

from django.contrib import admin
from django.db.models import ForeignKey, ManyToManyField

from core.access import projects_for_user
from core.models import Project


def _scoped_queryset(model, request):
    """The rows of `model` that `request.user` may see in the admin, or None if `model` is not
    project-scoped (installation-wide data such as the label schema)."""
    if model is Project:
        return projects_for_user(request.user)
    model_admin = admin.site._registry.get(model)
    if isinstance(model_admin, ProjectScopedAdmin):
        return model_admin.get_queryset(request)
    return None


class ProjectScopedAdmin(admin.ModelAdmin):
    """A ModelAdmin whose rows, choices and filters are limited to the user's projects.

    Set `project_field` to the path from the model to its Project ("project",
    "recording__project", "clip__recording__project"); "" for the Project model itself.
    """

    project_field = "project"

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        if request.user.is_superuser:
            return qs
        projects = projects_for_user(request.user)
        if not self.project_field:
            return qs.filter(pk__in=projects)
        return qs.filter(**{f"{self.project_field}__in": projects})

    def formfield_for_foreignkey(self, db_field: ForeignKey, request, **kwargs):
        if not request.user.is_superuser and "queryset" not in kwargs:
            scoped = _scoped_queryset(db_field.related_model, request)
            if scoped is not None:
                kwargs["queryset"] = scoped
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_manytomany(self, db_field: ManyToManyField, request, **kwargs):
        if not request.user.is_superuser and "queryset" not in kwargs:
            scoped = _scoped_queryset(db_field.related_model, request)
            if scoped is not None:
                kwargs["queryset"] = scoped
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def get_list_filter(self, request):
        """For non-superusers, relation filters offer only values present in their own rows
        (RelatedOnlyFieldListFilter), so another project's names never appear."""
        filters = super().get_list_filter(request)
        if request.user.is_superuser:
            return filters
        out = []
        for entry in filters:
            if isinstance(entry, str) and self._is_relation(entry):
                out.append((entry, admin.RelatedOnlyFieldListFilter))
            else:
                out.append(entry)
        return out

    def _is_relation(self, path: str) -> bool:
        model = self.model
        for part in path.split("__"):
            field = model._meta.get_field(part)
            if not field.is_relation:
                return False
            model = field.related_model
        return True


class ReadOnlyAdmin(ProjectScopedAdmin):
    """Records (votes, labels, releases, job rows): listed and read, never added or edited by hand."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Project)
class ProjectAdmin(ProjectScopedAdmin):
    project_field = ""
    list_display = ["name", "slug", "dialect", "created_at"]
    prepopulated_fields = {"slug": ["name"]}
    filter_horizontal = ["members"]
    search_fields = ["name", "slug"]
