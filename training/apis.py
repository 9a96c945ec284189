"""REST API of training runs and model versions (ML staff)."""

from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field, inline_serializer
from rest_framework import generics, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from core import roles
from core.access import RolePermission
from core.filters import StrictOrderingFilter
from core.serializers import IdCsvField, IdField
from releases import selectors as releases_selectors
from releases.models import ReleaseItem
from training import selectors, services
from training.filters import EvaluationFilter, ModelVersionFilter, TrainingRunFilter
from training.ml import families
from training.models import Evaluation, Family, ModelVersion, TrainingRun


class MlStaffApi(APIView):
    """Base of the ML staff's endpoints."""

    permission_classes = [RolePermission(roles.ML_STAFF)]


class FoldRunSerializer(serializers.ModelSerializer):
    """A cross-validation child as its parent lists it: its fold, progress and test metrics."""

    url = serializers.CharField(source="get_absolute_url", read_only=True)

    class Meta:
        model = TrainingRun
        fields = ["id", "url", "fold", "status", "progress", "epoch", "attempts", "test_metrics", "error"]
        read_only_fields = fields


class RunSerializer(serializers.ModelSerializer):
    release_name = serializers.CharField(source="release.__str__", read_only=True)
    url = serializers.CharField(source="get_absolute_url", read_only=True)
    model_version = serializers.SerializerMethodField()
    children = serializers.SerializerMethodField(
        help_text="A cross-validated run's child runs, one per fold, in fold order ([] otherwise)"
    )

    class Meta:
        model = TrainingRun
        fields = [
            "id",
            "url",
            "name",
            "release",
            "release_name",
            "family",
            "hparams",
            "resolved_hparams",
            "device",
            "precision",
            "backbone",
            "status",
            "cancel_requested",
            "progress",
            "epoch",
            "step",
            "total_steps",
            "history",
            "resumed_from_epoch",
            "attempts",
            "test_metrics",
            "used_device",
            "error",
            "created_at",
            "started_at",
            "finished_at",
            "model_version",
            "parent",
            "fold",
            "cv_metrics",
            "children",
        ]
        read_only_fields = fields

    def get_model_version(self, obj) -> int | None:
        mv = getattr(obj, "model_version", None)  # select_related by the selector
        return mv.pk if mv else None

    @extend_schema_field(FoldRunSerializer(many=True))
    def get_children(self, obj) -> list[dict]:
        # prefetched by the selector, in fold order
        return FoldRunSerializer(obj.children.all(), many=True).data


class RunCreateSerializer(serializers.Serializer):
    release = IdField(help_text="Release id")
    family = serializers.ChoiceField(choices=Family.choices)
    hparams = serializers.DictField(
        required=False, default=dict, help_text="Overrides of the family defaults"
    )
    device = serializers.ChoiceField(choices=TrainingRun.Device.choices, default="auto")
    precision = serializers.ChoiceField(choices=TrainingRun.Precision.choices, default="fp32")
    backbone = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        max_length=TrainingRun._meta.get_field("backbone").max_length,
    )
    name = serializers.CharField(required=False, allow_blank=True, default="", max_length=120)


class RunListCreateApi(MlStaffApi, generics.ListAPIView):
    """GET: the runs of the user's projects, paged (`count`, `results`), filtered by
    `TrainingRunFilter` (search, status, family, release, dates), ordered by `ordering`. The
    children of a cross-validated run are listed in its `children`, not as rows of their own."""

    serializer_class = RunSerializer
    filter_backends = [DjangoFilterBackend, StrictOrderingFilter]
    filterset_class = TrainingRunFilter
    ordering_fields = ["created_at", "finished_at", "name", "family", "status"]

    def get_queryset(self):
        return selectors.top_level_runs_for_user(self.request.user)

    @extend_schema(operation_id="training_runs_list")
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(
        operation_id="training_runs_create",
        request=RunCreateSerializer,
        responses={
            201: RunSerializer,
            400: OpenApiResponse(description="Invalid combination, with a message"),
        },
    )
    def post(self, request):
        """Queue a training run on the `gpu` queue; on a k-fold release, a cross-validated run
        (one child run per fold, listed in `children`; `cv_metrics` once all succeeded)."""
        data = RunCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        release = releases_selectors.release_for_user(request.user, v.pop("release"))
        run = services.run_create(release=release, created_by=request.user, **v)
        return Response(RunSerializer(run).data, status=status.HTTP_201_CREATED)


class RunDetailApi(MlStaffApi):
    @extend_schema(operation_id="training_runs_retrieve", responses=RunSerializer)
    def get(self, request, pk: int):
        return Response(RunSerializer(selectors.run_for_user(request.user, pk)).data)


class RunCancelApi(MlStaffApi):
    @extend_schema(operation_id="training_runs_cancel", request=None, responses=RunSerializer)
    def post(self, request, pk: int):
        """Cancel: a queued run at once, a running one at its next step (its best checkpoint stays)."""
        return Response(RunSerializer(services.run_cancel(run=selectors.run_for_user(request.user, pk))).data)


class RunRetryApi(MlStaffApi):
    @extend_schema(operation_id="training_runs_retry", request=None, responses=RunSerializer)
    def post(self, request, pk: int):
        """Retry a failed, cancelled or dead run: it resumes from its last checkpoint."""
        return Response(RunSerializer(services.run_retry(run=selectors.run_for_user(request.user, pk))).data)


class FamiliesApi(MlStaffApi):
    @extend_schema(
        operation_id="training_families",
        responses=inline_serializer("Families", {"families": serializers.ListField()}),
    )
    def get(self, request):
        """The model families and their default hyper-parameters: `defaults` on the CPU,
        `gpu_defaults` on a CUDA device (the same, with a larger / longer set where the family has one)."""
        return Response(
            {
                "families": [
                    {
                        "name": value,
                        "label": label,
                        "defaults": families.default_hparams(value),
                        "gpu_defaults": families.default_hparams(value, "cuda"),
                    }
                    for value, label in Family.choices
                ]
            }
        )


class CompareQuerySerializer(serializers.Serializer):
    runs = IdCsvField(required=False, help_text="Comma-separated run ids")


class CompareApi(MlStaffApi):
    @extend_schema(
        operation_id="training_runs_compare",
        parameters=[CompareQuerySerializer],
        responses=inline_serializer(
            "RunComparison",
            {
                "runs": serializers.ListField(child=serializers.DictField()),
                "evaluations": serializers.ListField(
                    child=serializers.DictField(),
                    help_text="Evaluations of the compared runs' models on other releases "
                    "(training.selectors.evaluations_compared)",
                ),
            },
        ),
    )
    def get(self, request):
        query = CompareQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        ids = query.validated_data.get("runs")
        runs = (
            selectors.runs_for_user(request.user).filter(pk__in=ids)
            if ids
            else selectors.top_level_runs_for_user(request.user)[:20]
        )
        evaluations = selectors.evaluations_for_user(request.user)
        evaluations = evaluations.filter(model_version__run__in=ids) if ids else evaluations[:20]
        return Response(
            {
                "runs": selectors.runs_compared(runs),
                "evaluations": selectors.evaluations_compared(evaluations),
            }
        )


class EvaluationSerializer(serializers.ModelSerializer):
    model_version_name = serializers.CharField(source="model_version.name", read_only=True)
    trained_on = serializers.CharField(source="model_version.release.__str__", read_only=True)
    release_name = serializers.CharField(source="release.__str__", read_only=True)

    class Meta:
        model = Evaluation
        fields = [
            "id",
            "model_version",
            "model_version_name",
            "trained_on",
            "release",
            "release_name",
            "split",
            "status",
            "progress",
            "attempts",
            "metrics",
            "n_excluded_seen",
            "n_excluded_unmatched",
            "error",
            "created_at",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields


class EvaluationCreateSerializer(serializers.Serializer):
    model_version = IdField(help_text="Model version id")
    release = IdField(help_text="Id of a release of the model's project")
    split = serializers.ChoiceField(
        choices=[("", "All items"), *ReleaseItem.Split.choices],
        required=False,
        allow_blank=True,
        default="",
        help_text='A split of the release, or "" for all its items',
    )


class EvaluationListCreateApi(MlStaffApi, generics.ListAPIView):
    """GET: the evaluations of the user's projects, paged (`count`, `results`), filtered by
    `EvaluationFilter` (model_version, release, status, search)."""

    serializer_class = EvaluationSerializer
    filter_backends = [DjangoFilterBackend]
    filterset_class = EvaluationFilter

    def get_queryset(self):
        return selectors.evaluations_for_user(self.request.user)

    @extend_schema(operation_id="training_evaluations_list")
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(
        operation_id="training_evaluations_create",
        request=EvaluationCreateSerializer,
        responses={
            201: EvaluationSerializer,
            400: OpenApiResponse(description="Another project's release, a bad split, nothing left"),
            404: OpenApiResponse(description="No such model version or release in your projects"),
        },
    )
    def post(self, request):
        """Evaluate a model version on a release of its project (a job on the `gpu` queue)."""
        data = EvaluationCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        model_version = selectors.model_version_for_user(request.user, v["model_version"])
        release = releases_selectors.release_for_user(request.user, v["release"])
        evaluation = services.evaluation_create(
            model_version=model_version, release=release, split=v["split"], created_by=request.user
        )
        evaluation = selectors.evaluation_for_user(request.user, evaluation.pk)
        return Response(EvaluationSerializer(evaluation).data, status=status.HTTP_201_CREATED)


class EvaluationDetailApi(MlStaffApi):
    @extend_schema(operation_id="training_evaluations_retrieve", responses=EvaluationSerializer)
    def get(self, request, pk: int):
        return Response(EvaluationSerializer(selectors.evaluation_for_user(request.user, pk)).data)


class ModelVersionSerializer(serializers.ModelSerializer):
    class Meta:
        model = ModelVersion
        fields = [
            "id",
            "name",
            "family",
            "release",
            "run",
            "labels",
            "metrics",
            "platform_version",
            "path",
            "created_at",
        ]
        read_only_fields = fields


class ModelVersionListApi(MlStaffApi, generics.ListAPIView):
    """The model versions of the user's projects, paged, filtered by `ModelVersionFilter`."""

    serializer_class = ModelVersionSerializer
    filter_backends = [DjangoFilterBackend]
    filterset_class = ModelVersionFilter

    def get_queryset(self):
        return selectors.model_versions_for_user(self.request.user)

    @extend_schema(operation_id="model_versions_list")
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)
