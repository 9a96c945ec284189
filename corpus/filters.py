"""What people look for in the corpus lists (the Recordings page and GET /api/recordings/)."""

from __future__ import annotations

import django_filters

from core.filters import SearchFilterSet
from corpus.models import Recording, SeriesSpeaker, Source


class RecordingFilter(SearchFilterSet):
    """`search` looks in the file name, the series title, the episode and the channel."""

    search_fields = ("original_name", "source__title", "source__episode", "source__channel")

    status = django_filters.ChoiceFilter(choices=Recording.Status.choices)
    source_title = django_filters.CharFilter(
        field_name="source__title", lookup_expr="icontains", max_length=300, label="Series"
    )
    episode = django_filters.CharFilter(
        field_name="source__episode", lookup_expr="icontains", max_length=100, label="Episode"
    )
    added_from = django_filters.DateFilter(
        field_name="created_at", lookup_expr="date__gte", label="Added from (inclusive)"
    )
    added_to = django_filters.DateFilter(field_name="created_at", lookup_expr="date__lte", label="Added to")
    aired_from = django_filters.DateFilter(
        field_name="source__air_date", lookup_expr="gte", label="Aired from"
    )
    aired_to = django_filters.DateFilter(field_name="source__air_date", lookup_expr="lte", label="Aired to")

    class Meta:
        model = Recording
        fields = [
            "search",
            "status",
            "source_title",
            "episode",
            "added_from",
            "added_to",
            "aired_from",
            "aired_to",
        ]


class SeriesSpeakerFilter(SearchFilterSet):
    """The voices list (Speakers page, GET /api/series-speakers/): `search` looks in the voice's
    name and its series; `series` narrows to series whose title contains it."""

    search_fields = ("name", "series")

    series = django_filters.CharFilter(lookup_expr="icontains", max_length=300)

    class Meta:
        model = SeriesSpeaker
        fields = ["search", "series"]


class SourceFilter(SearchFilterSet):
    """GET /api/sources/: `search` looks in the title, episode and channel."""

    search_fields = ("title", "episode", "channel")

    kind = django_filters.ChoiceFilter(choices=Source.Kind.choices)
    episode = django_filters.CharFilter(lookup_expr="icontains", max_length=100)
    aired_from = django_filters.DateFilter(field_name="air_date", lookup_expr="gte")
    aired_to = django_filters.DateFilter(field_name="air_date", lookup_expr="lte")

    class Meta:
        model = Source
        fields = ["search", "kind", "episode", "aired_from", "aired_to"]
