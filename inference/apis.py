"""REST API of inference: predict on an upload, promote a pre-labeller, pre-label jobs, quality."""

from django.http import Http404
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import PermissionDenied
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from core import roles
from corpus import selectors as corpus_selectors
from inference import services
from inference.models import PrelabelJob
from training.models import ModelVersion


def _project(user, slug: str | None):
    projects = corpus_selectors.projects_for_user(user)
    project = projects.filter(slug=slug).first() if slug else projects.order_by("id").first()
    if project is None:
        raise PermissionDenied("You are not a member of that project.")
    return project


def _require(user, *names) -> None:
    if not roles.user_has_role(user, *names):
        raise PermissionDenied(f"This needs the role {' or '.join(names)}.")


class InferenceRequestSerializer(serializers.Serializer):
    file = serializers.FileField(allow_empty_file=True)
    mode = serializers.ChoiceField(choices=["file", "chunk"], default="file")
    model_version = serializers.IntegerField(required=False)
    project = serializers.SlugField(required=False)


class InferenceApi(APIView):
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
        _require(request.user, roles.ML_STAFF, roles.CURATOR)
        data = InferenceRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        project = None
        if v.get("model_version") and not v.get("project"):
            # The model names its project (a user may belong to several).
            project = (
                ModelVersion.objects.filter(
                    pk=v["model_version"], project__in=corpus_selectors.projects_for_user(request.user)
                )
                .select_related("project")
                .first()
            )
            project = project.project if project else None
        try:
            answer = services.infer_upload(
                upload=v["file"],
                project=project or _project(request.user, v.get("project")),
                mode=v["mode"],
                model_version_id=v.get("model_version"),
            )
        except services.InferenceRejected as exc:
            return Response({"detail": exc.message}, status=exc.status)
        return Response(answer)


class PromoteSerializer(serializers.Serializer):
    model_version = serializers.IntegerField()
    show_to_annotators = serializers.BooleanField(default=False)


class PrelabellerApi(APIView):
    @extend_schema(
        operation_id="prelabeller_promote",
        request=PromoteSerializer,
        responses={200: OpenApiResponse(description="Promoted")},
    )
    def post(self, request):
        """Promote a model version to the project's active pre-labeller."""
        _require(request.user, roles.ML_STAFF)
        data = PromoteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        mv = ModelVersion.objects.filter(
            pk=data.validated_data["model_version"],
            project__in=corpus_selectors.projects_for_user(request.user),
        ).first()
        if mv is None:
            raise Http404("No such model version.")
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
    @extend_schema(
        operation_id="prelabel_jobs_create",
        request=None,
        responses={202: OpenApiResponse(description="Queued")},
    )
    def post(self, request):
        """Pre-label the project's existing clips with the active model, in batches (a job)."""
        _require(request.user, roles.ML_STAFF)
        job = services.prelabel_job_create(
            project=_project(request.user, request.query_params.get("project")), user=request.user
        )
        job.refresh_from_db()
        return Response(
            {"id": job.pk, "status": job.status, "progress": job.progress}, status=status.HTTP_202_ACCEPTED
        )


class PrelabelJobDetailApi(APIView):
    @extend_schema(
        operation_id="prelabel_jobs_retrieve",
        responses=inline_serializer(
            "PrelabelJob", {"status": serializers.CharField(), "progress": serializers.FloatField()}
        ),
    )
    def get(self, request, pk: int):
        _require(request.user, roles.ML_STAFF)
        job = PrelabelJob.objects.filter(
            pk=pk, project__in=corpus_selectors.projects_for_user(request.user)
        ).first()
        if job is None:
            raise Http404("No such job.")
        return Response(
            {
                "id": job.pk,
                "status": job.status,
                "progress": job.progress,
                "n_total": job.n_total,
                "n_done": job.n_done,
                "error": job.error,
            }
        )


class QualityApi(APIView):
    @extend_schema(
        operation_id="prelabel_quality",
        responses=inline_serializer("PrelabelQuality", {"model_versions": serializers.ListField()}),
    )
    def get(self, request):
        """Agreement of each model's pre-labels with the annotators' consensus, per class."""
        _require(request.user, roles.ML_STAFF, roles.CURATOR)
        return Response(
            {
                "model_versions": services.prelabel_quality(
                    project=_project(request.user, request.query_params.get("project"))
                )
            }
        )
