"""Reads of inference that span relations, and per-user visibility."""

from __future__ import annotations

from django.db.models import QuerySet

from core.access import projects_for_user
from inference.models import Prediction, Prelabeller


def prelabellers_for_user(user) -> QuerySet[Prelabeller]:
    """The active pre-labeller of each of the user's projects that has one.

    Args:
        user: the requesting user.
    Returns:
        A queryset of Prelabeller with `project` and `model_version` selected, by project name.
    """
    return (
        Prelabeller.objects.filter(project__in=projects_for_user(user))
        .select_related("project", "model_version")
        .order_by("project__name")
    )


def predictions_for_user(user) -> QuerySet[Prediction]:
    """Pre-labels of the clips of the user's projects, newest first (the caller checks the role).

    Args:
        user: the requesting user.
    Returns:
        A queryset of Prediction with `clip__recording__source` and `model_version` selected,
        ordered by -id.
    """
    return (
        Prediction.objects.filter(clip__recording__source__project__in=projects_for_user(user))
        .select_related("clip__recording__source", "model_version")
        .order_by("-id")
    )
