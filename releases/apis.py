"""REST API of releases and their exports (curators): thin views over the releases services."""

from __future__ import annotations

from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import generics, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from core import roles
from core.access import RolePermission, project_for_user
from core.serializers import CountField, IdListField
from releases import selectors
from releases.build import ReleaseParams, release_build
from releases.export import release_export_create
from releases.filters import ReleaseFilter
from releases.models import Release, ReleaseExport

PROJECT_PARAM = OpenApiParameter("project", str, description="Project slug (default: your first project)")


class ReleaseParamsSerializer(serializers.Serializer):
    name = serializers.SlugField(max_length=80)
    label_set = serializers.ListField(
        child=serializers.SlugField(max_length=30), required=False, max_length=50
    )
    min_agreement = serializers.IntegerField(required=False, min_value=1, max_value=15)
    include_adjudicated = serializers.BooleanField(required=False)
    include_gold = serializers.BooleanField(required=False)
    balancing = serializers.CharField(required=False, max_length=30)
    cap = CountField(required=False, allow_null=True)  # "at least 1" is the service's rule, with its message
    split = serializers.CharField(required=False, max_length=30)
    split_kind = serializers.ChoiceField(
        choices=["holdout", "kfold"],
        required=False,
        help_text="holdout: one train/validation/test split (`split`); kfold: k folds grouped by `group_by`",
    )
    # The upper bound only keeps the number sane; "at most the number of groups" is the service's rule.
    folds = serializers.IntegerField(
        required=False,
        min_value=0,
        max_value=10_000,
        help_text="k of a kfold release (2 .. number of groups); 0: one fold per group (leave one out)",
    )
    group_by = serializers.CharField(required=False, max_length=30)
    # NumPy's generators take seeds below 2**32.
    seed = serializers.IntegerField(required=False, min_value=0, max_value=2**32 - 1)
    sources = IdListField(required=False)


class ReleaseExportSerializer(serializers.ModelSerializer):
    archive_url = serializers.SerializerMethodField()

    class Meta:
        model = ReleaseExport
        fields = [
            "id",
            "release",
            "status",
            "progress",
            "size_bytes",
            "error",
            "archive_url",
            "created_at",
            "finished_at",
        ]
        read_only_fields = fields

    def get_archive_url(self, obj) -> str | None:
        return obj.archive.url if obj.archive else None


class ReleaseSerializer(serializers.ModelSerializer):
    manifest_url = serializers.FileField(source="manifest", read_only=True, use_url=True)
    exports = serializers.SerializerMethodField()

    class Meta:
        model = Release
        fields = [
            "id",
            "name",
            "version",
            "status",
            "params",
            "checksum",
            "counts",
            "n_items",
            "platform_version",
            "created_at",
            "manifest_url",
            "exports",
        ]
        read_only_fields = fields

    @extend_schema_field(ReleaseExportSerializer(many=True))
    def get_exports(self, obj) -> list[dict]:
        return ReleaseExportSerializer(obj.exports.all()[:5], many=True).data


class CuratorApi(APIView):
    permission_classes = [RolePermission(roles.CURATOR)]


class ReleaseListCreateApi(CuratorApi, generics.ListAPIView):
    """GET: the project's releases, newest first, paged (`count`, `results`) and filtered by
    `ReleaseFilter` (search by name, status, dates). POST: build a new version."""

    queryset = Release.objects.none()  # for the schema only: get_queryset scopes to the project
    serializer_class = ReleaseSerializer
    filter_backends = [DjangoFilterBackend]
    filterset_class = ReleaseFilter

    def get_queryset(self):
        project = project_for_user(self.request.user, self.request.query_params.get("project"))
        return selectors.releases_for_user(self.request.user).filter(project=project)

    @extend_schema(operation_id="releases_list", parameters=[PROJECT_PARAM])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(
        operation_id="releases_build",
        parameters=[PROJECT_PARAM],
        request=ReleaseParamsSerializer,
        responses={
            201: ReleaseSerializer,
            400: OpenApiResponse(description="A message per invalid parameter"),
        },
    )
    def post(self, request):
        """Build a new version of a release: consensus filter, balancing, leak-free grouped split."""
        project = project_for_user(request.user, request.query_params.get("project"))
        data = ReleaseParamsSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        release = release_build(
            project=project, params=ReleaseParams(**data.validated_data), created_by=request.user
        )
        return Response(ReleaseSerializer(release).data, status=status.HTTP_201_CREATED)


class ReleaseDetailApi(CuratorApi):
    @extend_schema(operation_id="releases_retrieve", responses=ReleaseSerializer)
    def get(self, request, pk: int):
        return Response(ReleaseSerializer(selectors.release_for_user(request.user, pk)).data)


class ReleaseExportCreateApi(CuratorApi):
    @extend_schema(operation_id="releases_export", request=None, responses={202: ReleaseExportSerializer})
    def post(self, request, pk: int):
        """Queue the archive of a release (Celery, `audio` queue); poll the export for progress."""
        release = selectors.release_for_user(request.user, pk)
        export = release_export_create(release=release, created_by=request.user)
        export.refresh_from_db()
        return Response(ReleaseExportSerializer(export).data, status=status.HTTP_202_ACCEPTED)


class ReleaseExportDetailApi(CuratorApi):
    @extend_schema(operation_id="release_exports_retrieve", responses=ReleaseExportSerializer)
    def get(self, request, pk: int):
        return Response(ReleaseExportSerializer(selectors.export_for_user(request.user, pk)).data)
