"""Serializer fields the apps share for corpus objects."""

from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers


@extend_schema_field(OpenApiTypes.URI)
class ClipAudioUrlField(serializers.Field):
    """A clip id, rendered as the URL of its audio (`GET /api/clips/<id>/audio/`, access-checked)."""

    def __init__(self, **kwargs):
        kwargs["read_only"] = True
        super().__init__(**kwargs)

    def to_representation(self, clip_id) -> str:
        return reverse("corpus-api:clip-audio", args=[clip_id])
