"""Every list the API and the pages give is paged on the server: `count`, then one page.

The API answers `{count, next, previous, results}` (DRF's PageNumberPagination): `page` from 1,
`page_size` from 1 to MAX_PAGE_SIZE (default PAGE_SIZE). A malformed `page` or `page_size` is a
400 naming the parameter (checked by a serializer, like every other query parameter); a page past
the last one is DRF's 404 "Invalid page.". Pages (server-rendered lists) use `page_for_request`,
which reads the same two parameters and shows the last page for one past it.
"""

from __future__ import annotations

from django.core.paginator import Page, Paginator
from rest_framework import serializers
from rest_framework.pagination import PageNumberPagination

from core.serializers import INT32_MAX

PAGE_SIZE = 50
MAX_PAGE_SIZE = 200


class PageQuerySerializer(serializers.Serializer):
    page = serializers.IntegerField(required=False, min_value=1, max_value=INT32_MAX)
    page_size = serializers.IntegerField(required=False, min_value=1, max_value=MAX_PAGE_SIZE)


class ListPagination(PageNumberPagination):
    """DRF's page-number pagination with a bounded, validated page size."""

    page_size = PAGE_SIZE
    page_size_query_param = "page_size"
    max_page_size = MAX_PAGE_SIZE
    last_page_strings = ()  # `page=last` would bypass the serializer's integer check

    def paginate_queryset(self, queryset, request, view=None):
        PageQuerySerializer(data=request.query_params).is_valid(raise_exception=True)
        return super().paginate_queryset(queryset, request, view)


def page_for_request(request, queryset, *, per_page: int = PAGE_SIZE) -> Page:
    """One page of `queryset` for a server-rendered list (`?page=`, `?page_size=`).

    A malformed number falls back to the default (a page is not an API: it shows the list, with
    the first page, rather than an error); a page past the end shows the last page.
    """
    query = PageQuerySerializer(data=request.GET)
    params = query.validated_data if query.is_valid() else {}
    paginator = Paginator(queryset, params.get("page_size", per_page))
    return paginator.get_page(params.get("page", 1))
