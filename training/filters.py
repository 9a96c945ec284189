"""What ML staff look for in the run list (page and GET /api/training/runs/) and model versions."""

from __future__ import annotations

import django_filters

from core.filters import IdFilter, SearchFilterSet
from training.models import Evaluation, Family, ModelVersion, TrainingRun


class TrainingRunFilter(SearchFilterSet):
    """`search` looks in the run's name, its release's name and its backbone."""

    search_fields = ("name", "release__name", "backbone")

    status = django_filters.ChoiceFilter(choices=TrainingRun._meta.get_field("status").choices)
    family = django_filters.ChoiceFilter(choices=Family.choices)
    release = IdFilter(field_name="release_id", label="Release id")
    created_from = django_filters.DateFilter(field_name="created_at", lookup_expr="date__gte")
    created_to = django_filters.DateFilter(field_name="created_at", lookup_expr="date__lte")

    class Meta:
        model = TrainingRun
        fields = ["search", "status", "family", "release", "created_from", "created_to"]


class ModelVersionFilter(SearchFilterSet):
    """`search` looks in the version's name and its release's name."""

    search_fields = ("name", "release__name")

    family = django_filters.ChoiceFilter(choices=Family.choices)
    release = IdFilter(field_name="release_id", label="Release id")

    class Meta:
        model = ModelVersion
        fields = ["search", "family", "release"]


class EvaluationFilter(SearchFilterSet):
    """`search` looks in the model version's name and the evaluated release's name; `model_version`
    and `release` (the evaluated one) are ids (another project's id filters to nothing)."""

    search_fields = ("model_version__name", "release__name")

    status = django_filters.ChoiceFilter(choices=Evaluation._meta.get_field("status").choices)
    model_version = IdFilter(field_name="model_version_id", label="Model version id")
    release = IdFilter(field_name="release_id", label="Evaluated release id")

    class Meta:
        model = Evaluation
        fields = ["search", "status", "model_version", "release"]
