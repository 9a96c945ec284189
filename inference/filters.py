"""What people look for among pre-labels (GET /api/inference/predictions/)."""

from __future__ import annotations

import django_filters

from core.filters import IdFilter, SearchFilterSet
from inference.models import Prediction


class PredictionFilter(SearchFilterSet):
    """By model version, predicted label, confidence, series, episode, recording, speaker cluster
    and date; `search` looks in the recording's file name, series title and episode."""

    search_fields = (
        "clip__recording__original_name",
        "clip__recording__source__title",
        "clip__recording__source__episode",
    )

    model_version = IdFilter(field_name="model_version_id")
    label = django_filters.CharFilter(field_name="top_label", max_length=30, label="Predicted label")
    min_probability = django_filters.NumberFilter(
        field_name="top_probability", lookup_expr="gte", min_value=0, max_value=1
    )
    source_title = django_filters.CharFilter(
        field_name="clip__recording__source__title", lookup_expr="icontains", max_length=300
    )
    episode = django_filters.CharFilter(
        field_name="clip__recording__source__episode", lookup_expr="icontains", max_length=100
    )
    recording = IdFilter(field_name="clip__recording_id")
    speaker_cluster = IdFilter(field_name="clip__speaker_cluster_id")
    created_from = django_filters.DateFilter(field_name="created_at", lookup_expr="date__gte")
    created_to = django_filters.DateFilter(field_name="created_at", lookup_expr="date__lte")

    class Meta:
        model = Prediction
        fields = [
            "search",
            "model_version",
            "label",
            "min_probability",
            "source_title",
            "episode",
            "recording",
            "speaker_cluster",
            "created_from",
            "created_to",
        ]
