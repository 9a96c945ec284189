"""What curators look for in the release list (GET /api/releases/, drawn by the releases page)."""

from __future__ import annotations

import django_filters

from core.filters import SearchFilterSet
from releases.models import Release


class ReleaseFilter(SearchFilterSet):
    """`search` looks in the release's name; `status` is built or failed."""

    search_fields = ("name",)

    status = django_filters.ChoiceFilter(choices=Release.Status.choices)
    created_from = django_filters.DateFilter(field_name="created_at", lookup_expr="date__gte")
    created_to = django_filters.DateFilter(field_name="created_at", lookup_expr="date__lte")

    class Meta:
        model = Release
        fields = ["search", "status", "created_from", "created_to"]
