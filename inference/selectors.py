"""Reads of inference: the pre-labellers of the user's projects."""

from django.db.models import QuerySet

from core.access import projects_for_user
from inference.models import Prelabeller


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
