"""Filters shared by the list APIs and pages: django-filter FilterSets, plus a strict ordering.

Each list's FilterSet (`<app>/filters.py`) is used twice: by DRF's DjangoFilterBackend on the
API (an invalid value is a 400 naming the parameter) and by the server-rendered page with
`request.GET`. Free-text search is a FilterSet filter too (`SearchFilterSet.search`), so the API
and the page search the same fields the same way.
"""

from __future__ import annotations

from functools import reduce
from operator import and_, or_

import django_filters
from django import forms
from django.db.models import Q
from rest_framework import serializers
from rest_framework.filters import OrderingFilter

from core.serializers import INT32_MAX

# A search is at most this many words (each must match one of the search fields), so a long
# query string cannot build an unbounded WHERE clause.
MAX_SEARCH_TERMS = 8


class SearchFilterSet(django_filters.FilterSet):
    """A FilterSet with `search`: every word must appear (icontains) in one of `search_fields`."""

    search_fields: tuple[str, ...] = ()

    search = django_filters.CharFilter(
        method="filter_search", max_length=200, label="Search", help_text="Words to look for."
    )

    def filter_search(self, queryset, name, value):
        terms = value.split()[:MAX_SEARCH_TERMS]
        if not terms:
            return queryset
        per_term = [reduce(or_, (Q(**{f"{f}__icontains": t}) for f in self.search_fields)) for t in terms]
        return queryset.filter(reduce(and_, per_term))


class StrictOrderingFilter(OrderingFilter):
    """DRF's OrderingFilter, but an unknown field is a 400 (DRF would ignore it silently)."""

    def get_ordering(self, request, queryset, view):
        params = request.query_params.get(self.ordering_param)
        if params:
            allowed = {name for name, _ in self.get_valid_fields(queryset, view, {"request": request})}
            fields = [p.strip() for p in params.split(",") if p.strip()]
            bad = [f for f in fields if f.lstrip("-") not in allowed]
            if bad or len(fields) > 3:
                raise serializers.ValidationError(
                    {self.ordering_param: [f"Order by one of: {', '.join(sorted(allowed))}."]}
                )
        return super().get_ordering(request, queryset, view)


class IdFilter(django_filters.NumberFilter):
    """A row id in a query string: an integer from 1 to 2**31 - 1 (else a 400 naming it)."""

    field_class = forms.IntegerField

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", INT32_MAX)
        super().__init__(*args, **kwargs)
