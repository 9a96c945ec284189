"""REST API of inference: predict on an upload, promote a pre-labeller, pre-label jobs, quality."""

from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import generics, serializers, status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from core import roles
from core.access import RolePermission, object_for_user, project_for_user, projects_for_user
from core.serializers import IdField
from inference import selectors, services
from inference.filters import PredictionFilter
from inference.models import Prediction, PrelabelJob
from training import selectors as training_selectors

ML_STAFF = [RolePermission(roles.ML_STAFF)]
ML_STAFF_OR_CURATOR = [RolePermission(roles.ML_STAFF, roles.CURATOR)]


class PrelabelJobSerializer(serializers.ModelSerializer):
    class Meta:
        model = PrelabelJob
        fields = ["id", "status", "progress", "n_total", "n_done", "error"]
        read_only_fields = fields


class InferenceRequestSerializer(serializers.Serializer):
    file = serializers.FileField(allow_empty_file=True)
    mode = serializers.ChoiceField(choices=["file", "chunk"], default="file")
    model_version = IdField(required=False)
    project = serializers.SlugField(required=False, max_length=80)


class InferenceApi(APIView):
    permission_classes = ML_STAFF_OR_CURATOR
    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(
        operation_id="inference_predict",
        request=InferenceRequestSerializer,
        responses={
            200: inline_serializer(
                "InferenceAnswer",
                {
                    "silence": serializers.BooleanField(),
                    "segments": serializers.ListField(),
                    "labels": serializers.ListField(),
                    "duration_s": serializers.FloatField(),
                    "rms_dbfs": serializers.FloatField(),
                    "latency_ms": serializers.FloatField(),
                    "model_version": serializers.DictField(),
                },
            ),
            400: OpenApiResponse(description="Empty or unsupported file, no model"),
            413: OpenApiResponse(description="Too long or too large"),
            422: OpenApiResponse(description="Not decodable"),
        },
    )
    def post(self, request):
        """Emotion per speech segment of any accepted audio (long audio is segmented by the
        platform's VAD; mode=chunk predicts the whole upload, as the live page does)."""
        data = InferenceRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        # 404 for a model version outside the user's projects.
        mv = (
            training_selectors.model_version_for_user(request.user, v["model_version"])
            if v.get("model_version")
            else None
        )
        if mv is not None and not v.get("project"):
            project = mv.project  # the model names its project (a user may belong to several)
        else:
            project = project_for_user(request.user, v.get("project"))
        answer = services.infer_upload(
            upload=v["file"],
            project=project,
            mode=v["mode"],
            model_version_id=v.get("model_version"),
        )
        return Response(answer)


class PromoteSerializer(serializers.Serializer):
    model_version = IdField()
    show_to_annotators = serializers.BooleanField(default=False)


class PrelabellerApi(APIView):
    permission_classes = ML_STAFF

    @extend_schema(
        operation_id="prelabeller_promote",
        request=PromoteSerializer,
        responses={200: OpenApiResponse(description="Promoted")},
    )
    def post(self, request):
        """Promote a model version to the project's active pre-labeller."""
        data = PromoteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        mv = training_selectors.model_version_for_user(request.user, data.validated_data["model_version"])
        pre = services.prelabeller_activate(
            project=mv.project,
            model_version=mv,
            user=request.user,
            show_to_annotators=data.validated_data["show_to_annotators"],
        )
        return Response(
            {"project": mv.project.slug, "model_version": mv.pk, "show_to_annotators": pre.show_to_annotators}
        )


class PrelabelJobApi(APIView):
    permission_classes = ML_STAFF

    @extend_schema(
        operation_id="prelabel_jobs_create",
        request=None,
        responses={202: OpenApiResponse(description="Queued")},
    )
    def post(self, request):
        """Pre-label the project's existing clips with the active model, in batches (a job)."""
        job = services.prelabel_job_create(
            project=project_for_user(request.user, request.query_params.get("project")), user=request.user
        )
        job.refresh_from_db()
        return Response(PrelabelJobSerializer(job).data, status=status.HTTP_202_ACCEPTED)


class PrelabelJobDetailApi(APIView):
    permission_classes = ML_STAFF

    @extend_schema(
        operation_id="prelabel_jobs_retrieve",
        responses=PrelabelJobSerializer,
    )
    def get(self, request, pk: int):
        jobs = PrelabelJob.objects.filter(project__in=projects_for_user(request.user))
        return Response(PrelabelJobSerializer(object_for_user(jobs, pk, what="pre-label job")).data)


class QualityQuerySerializer(serializers.Serializer):
    project = serializers.SlugField(required=False, max_length=80, help_text="Project slug (default: yours)")
    include_gold = serializers.BooleanField(
        required=False, default=False, help_text="Count gold imports (clips with a gold label) too"
    )


class QualityClassSerializer(serializers.Serializer):
    n = serializers.IntegerField()
    agreement = serializers.FloatField()


class QualityJobSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.CharField()
    progress = serializers.FloatField()


class QualityModelSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    n_compared = serializers.IntegerField(help_text="Eligible clips the model has predicted")
    agreement = serializers.FloatField(
        allow_null=True, help_text="Share of top labels equal to the consensus"
    )
    per_class = serializers.DictField(child=QualityClassSerializer(), help_text="Per consensus emotion")
    n_eligible = serializers.IntegerField(
        help_text="Clips with a usable consensus, not seen in training or validation, not gold unless asked"
    )
    n_excluded_seen = serializers.IntegerField(help_text="Left out: in the model's train or validation split")
    n_excluded_gold = serializers.IntegerField(help_text="Left out: gold imports (0 with include_gold)")
    include_gold = serializers.BooleanField()
    partial = serializers.BooleanField(help_text="A pre-label job of this model is queued or running")
    job = QualityJobSerializer(allow_null=True)


class QualityResponseSerializer(serializers.Serializer):
    model_versions = QualityModelSerializer(many=True)


class QualityApi(APIView):
    permission_classes = ML_STAFF_OR_CURATOR

    @extend_schema(
        operation_id="prelabel_quality",
        parameters=[QualityQuerySerializer],
        responses=QualityResponseSerializer,
    )
    def get(self, request):
        """Agreement of each model's pre-labels with the annotators' consensus, per class, on the
        clips it did not learn from (gold imports only with `include_gold`); partial while a
        pre-label job of the model is queued or running."""
        query = QualityQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        rows = services.prelabel_quality(
            project=project_for_user(request.user, query.validated_data.get("project")),
            include_gold=query.validated_data["include_gold"],
        )
        return Response(QualityResponseSerializer({"model_versions": rows}).data)


class PredictionSerializer(serializers.ModelSerializer):
    recording = serializers.IntegerField(source="clip.recording_id")
    source_title = serializers.CharField(source="clip.recording.source.title")
    episode = serializers.CharField(source="clip.recording.source.episode")
    model_version_name = serializers.CharField(source="model_version.name")

    class Meta:
        model = Prediction
        fields = [
            "id",
            "clip",
            "recording",
            "source_title",
            "episode",
            "model_version",
            "model_version_name",
            "top_label",
            "top_probability",
            "entropy",
            "probabilities",
            "created_at",
        ]
        read_only_fields = fields


class PredictionListApi(generics.ListAPIView):
    """Pre-labels of the user's projects' clips (ML staff and curators), newest first, paged
    (`count`, `results`), filtered by `PredictionFilter`."""

    permission_classes = ML_STAFF_OR_CURATOR
    serializer_class = PredictionSerializer
    filter_backends = [DjangoFilterBackend]
    filterset_class = PredictionFilter

    def get_queryset(self):
        return selectors.predictions_for_user(self.request.user)

    @extend_schema(operation_id="predictions_list")
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class QuotaQuerySerializer(serializers.Serializer):
    project = serializers.SlugField(required=False, max_length=80, help_text="Project slug (default: yours)")


class AccuracySerializer(serializers.Serializer):
    n = serializers.IntegerField()
    accuracy = serializers.FloatField(allow_null=True)


class QuotaCellSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    emotion = serializers.CharField()
    emotion_name = serializers.CharField()
    gender = serializers.CharField(allow_null=True)
    gender_name = serializers.CharField()
    target = serializers.IntegerField()
    count = serializers.IntegerField()
    deficit = serializers.IntegerField()
    progress = serializers.FloatField()
    in_progress = serializers.IntegerField()
    in_progress_expected = serializers.FloatField()
    n_picked = serializers.IntegerField()
    random_share = serializers.FloatField(allow_null=True)


class QuotaPicksSerializer(serializers.Serializer):
    ranked = serializers.IntegerField()
    random = serializers.IntegerField()
    random_share = serializers.FloatField(allow_null=True)


class QuotaBiasSerializer(serializers.Serializer):
    random = AccuracySerializer()
    ranked = AccuracySerializer()


class QuotaFiguresSerializer(serializers.Serializer):
    policy = serializers.CharField()
    quota_active = serializers.BooleanField()
    fallback = serializers.BooleanField()
    prelabeller = serializers.DictField(allow_null=True)
    random_share_setting = serializers.FloatField()
    picks = QuotaPicksSerializer()
    cells = QuotaCellSerializer(many=True)
    bias = QuotaBiasSerializer()


class QuotaApi(APIView):
    permission_classes = [RolePermission(roles.CURATOR)]

    @extend_schema(
        operation_id="quota_figures", parameters=[QuotaQuerySerializer], responses=QuotaFiguresSerializer
    )
    def get(self, request):
        """Per quota cell: target, clips so far, open clips predicted in it, random picks; and the
        pre-labeller's accuracy on randomly vs rank-picked clips (curators)."""
        query = QuotaQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        project = project_for_user(request.user, query.validated_data.get("project"))
        return Response(QuotaFiguresSerializer(selectors.quota_figures(project=project)).data)
