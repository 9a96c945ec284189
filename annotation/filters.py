"""What curators look for among clips: GET /api/clips/, and rejected clips (GET /api/validation/rejected/)."""

from __future__ import annotations

import django_filters

from annotation.models import ClipConsensus
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


class ClipFilter(SearchFilterSet):
    """The clips of GET /api/clips/: by series, episode, recording, status, speaker cluster, the
    consensus emotion and gender (LabelOption codes) and consensus status, and creation date."""

    search_fields = ("recording__original_name", "recording__source__title", "recording__source__episode")

    status = django_filters.ChoiceFilter(choices=Clip.Status.choices)
    source_title = django_filters.CharFilter(
        field_name="recording__source__title", lookup_expr="icontains", max_length=300
    )
    episode = django_filters.CharFilter(
        field_name="recording__source__episode", lookup_expr="icontains", max_length=100
    )
    recording = IdFilter(field_name="recording_id")
    speaker_cluster = IdFilter(field_name="speaker_cluster_id")
    emotion = django_filters.CharFilter(
        field_name="consensus__emotion__code", max_length=30, label="Emotion code"
    )
    gender = django_filters.CharFilter(
        field_name="consensus__gender__code", max_length=30, label="Gender code"
    )
    consensus = django_filters.ChoiceFilter(
        field_name="consensus__status", choices=ClipConsensus.Status.choices
    )
    created_from = django_filters.DateFilter(field_name="created_at", lookup_expr="date__gte")
    created_to = django_filters.DateFilter(field_name="created_at", lookup_expr="date__lte")

    class Meta:
        model = Clip
        fields = [
            "search",
            "status",
            "source_title",
            "episode",
            "recording",
            "speaker_cluster",
            "emotion",
            "gender",
            "consensus",
            "created_from",
            "created_to",
        ]
