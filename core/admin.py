"""Admin building blocks every app uses: project scoping and read-only records.

A staff user who is not a superuser sees, in every list, filter, choice and raw-id lookup, only
the rows of the projects they belong to (core.access.projects_for_user); what they may do with
them is their role group's model permissions (core.roles.ROLE_PERMISSIONS).
"""

from __future__ import annotations

import json

from django.contrib import admin
from django.db.models import ForeignKey, ManyToManyField
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from core import display
from core.access import projects_for_user
from core.models import Project

# --- Readable values: what the admin shows instead of raw floats and JSON blobs ----------------


def admin_change_link(obj, text: str | None = None) -> SafeString:
    """A link to `obj`'s admin change page ("Prelabel job #12"), for messages and lists."""
    url = reverse(f"admin:{obj._meta.app_label}_{obj._meta.model_name}_change", args=[obj.pk])
    return format_html('<a href="{}">{}</a>', url, text or str(obj))


def _cell(value) -> str:
    """One table cell's text: floats to 3 places, nested values as compact JSON."""
    value = display.number(value)
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return display.DASH if value is None else str(value)


def json_block(value) -> SafeString | str:
    """Any JSON value, indented, floats to 3 places, in a <pre>; a dash when empty."""
    if value in (None, {}, []):
        return display.DASH
    text = json.dumps(display.number(value), indent=2, ensure_ascii=False, sort_keys=True)
    return format_html('<pre style="margin:0">{}</pre>', text)


def mapping_table(mapping: dict | None, fmt=_cell) -> SafeString | str:
    """A {name: value} dict (hyper-parameters, metrics, probabilities) as a two-column table,
    each value through `fmt`, names in alphabetical order (PostgreSQL's jsonb does not keep the
    order a dict was written in, so only a sorted order reads the same on every database); a
    dash when empty."""
    if not mapping:
        return display.DASH
    rows = format_html_join(
        "", "<tr><th>{}</th><td>{}</td></tr>", ((k, fmt(mapping[k])) for k in sorted(mapping))
    )
    return format_html("<table>{}</table>", rows)


def rows_table(rows: list[dict] | None) -> SafeString | str:
    """A list of records (a training history, one dict per epoch) as a table: one row per
    record, one column per key: `epoch` first, then the others in alphabetical order (jsonb
    reorders keys, see `mapping_table`); a dash when empty."""
    if not rows:
        return display.DASH
    columns = sorted({k for row in rows for k in row}, key=lambda k: (k != "epoch", k))
    head = format_html_join("", "<th>{}</th>", ((c,) for c in columns))
    body = format_html_join(
        "",
        "<tr>{}</tr>",
        ((format_html_join("", "<td>{}</td>", ((_cell(row.get(c)),) for c in columns)),) for row in rows),
    )
    return format_html("<table><thead><tr>{}</tr></thead><tbody>{}</tbody></table>", head, body)


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
    # {model field: display method}: on a change page the method's readable value (a percent, a
    # table) is shown in the field's place, and the raw field leaves the form.
    display_instead: dict[str, str] = {}

    def readable(self, fields) -> list[str]:
        """`fields` with each raw field of `display_instead` replaced by its display method, and
        the methods not yet among them added (a read-only admin lists no readonly_fields)."""
        out = [self.display_instead.get(f, f) for f in fields]
        return out + [m for m in self.display_instead.values() if m not in out]

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        return self.readable(fields) if obj is not None else fields

    def get_exclude(self, request, obj=None):
        exclude = list(super().get_exclude(request, obj) or [])
        return exclude + list(self.display_instead) if obj is not None else exclude or None

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
