"""What curators look for among rejected clips (GET /api/validation/rejected/, the Rejected page)."""

from __future__ import annotations

import django_filters

from core.filters import IdFilter, SearchFilterSet
from corpus.models import Clip


class RejectedClipFilter(SearchFilterSet):
    """`search` looks in the recording's file name, its series title and its episode; `reason` is a
    rejection reason's code ("music", "several_speakers", ...); the dates are the votes'."""

    search_fields = ("recording__original_name", "recording__source__title", "recording__source__episode")

    source_title = django_filters.CharFilter(
        field_name="recording__source__title", lookup_expr="icontains", max_length=300
    )
    episode = django_filters.CharFilter(
        field_name="recording__source__episode", lookup_expr="icontains", max_length=100
    )
    recording = IdFilter(field_name="recording_id")
    speaker_cluster = IdFilter(field_name="speaker_cluster_id")
    reason = django_filters.CharFilter(
        field_name="validation_votes__reasons__code", max_length=40, distinct=True, label="Reason code"
    )
    voted_from = django_filters.DateFilter(
        field_name="validation_votes__created_at", lookup_expr="date__gte", distinct=True
    )
    voted_to = django_filters.DateFilter(
        field_name="validation_votes__created_at", lookup_expr="date__lte", distinct=True
    )

    class Meta:
        model = Clip
        fields = [
            "search",
            "source_title",
            "episode",
            "recording",
            "speaker_cluster",
            "reason",
            "voted_from",
            "voted_to",
        ]
