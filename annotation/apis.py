"""REST API of validation and labelling: thin views over annotation.services."""

from __future__ import annotations

from django.urls import reverse
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from annotation import consensus, policies, selectors, services
from annotation.models import Assignment, LabelOption, RejectionReason
from core import roles
from core.access import RolePermission, project_for_user
from corpus import selectors as corpus_selectors

PROJECT_PARAM = OpenApiParameter("project", str, description="Project slug (default: your first project)")


class ClipInHandSerializer(serializers.Serializer):
    """Only what the person needs to hear the clip: no source, no other labels (blind)."""

    id = serializers.IntegerField()
    duration_s = serializers.FloatField()
    audio_url = serializers.CharField()


class HandoutSerializer(serializers.Serializer):
    assignment = serializers.IntegerField(allow_null=True)
    clip = ClipInHandSerializer(allow_null=True)
    served_at = serializers.DateTimeField(allow_null=True)
    expires_at = serializers.DateTimeField(allow_null=True)
    resumed = serializers.BooleanField()
    detail = serializers.CharField()
    counts = serializers.DictField()


def _handout_response(handout, user, kind: str, project=None) -> Response:
    counts = selectors.user_counts(user=user)
    if handout is None:
        what = "validate" if kind == Assignment.Kind.VALIDATION else "label"
        return Response(
            {
                "assignment": None,
                "clip": None,
                "served_at": None,
                "expires_at": None,
                "resumed": False,
                "detail": f"No clips left for you to {what} right now.",
                "counts": counts,
            }
        )
    a = handout.assignment
    return Response(
        {
            "assignment": a.pk,
            "clip": {
                "id": a.clip_id,
                "duration_s": a.clip.duration_s,
                "audio_url": reverse("corpus-api:clip-audio", args=[a.clip_id]),
            },
            "served_at": a.served_at,
            "expires_at": a.expires_at,
            "resumed": handout.resumed,
            "detail": "You already hold this clip." if handout.resumed else "",
            "counts": counts,
            # e.g. the pre-labeller's suggestion, when the project shows it to annotators
            **policies.handout_extras(clip_id=a.clip_id, project=project, kind=kind),
        }
    )


class SchemaApi(APIView):
    @extend_schema(
        operation_id="annotation_schema",
        parameters=[PROJECT_PARAM],
        responses=inline_serializer(
            "LabelSchema",
            {
                "emotions": serializers.ListField(),
                "genders": serializers.ListField(),
                "reasons": serializers.ListField(),
                "config": serializers.DictField(),
            },
        ),
    )
    def get(self, request):
        """The label schema, rejection reasons and the project's settings (all data)."""
        project = project_for_user(request.user, request.query_params.get("project"))
        config = services.config_for(project)
        options = LabelOption.objects.filter(active=True)
        fields = ("code", "name", "tier", "description", "shortcut")
        return Response(
            {
                "emotions": list(options.filter(kind="emotion").values(*fields)),
                "genders": list(options.filter(kind="gender").values(*fields)),
                "reasons": list(RejectionReason.objects.filter(active=True).values("code", "text")),
                "config": {
                    "project": project.slug,
                    "labels_per_clip": config.labels_per_clip,
                    "validation_votes_needed": config.validation_votes_needed,
                    "assignment_minutes": config.assignment_minutes,
                    "guideline": config.guideline or selectors.default_guideline(),
                },
            }
        )


class NextApi(APIView):
    kind: str = ""

    def get(self, request):
        project = project_for_user(request.user, request.query_params.get("project"))
        handout = services.assignment_next(user=request.user, project=project, kind=self.kind)
        return _handout_response(handout, request.user, self.kind, project)


class ValidationNextApi(NextApi):
    kind = Assignment.Kind.VALIDATION

    @extend_schema(operation_id="validation_next", parameters=[PROJECT_PARAM], responses=HandoutSerializer)
    def get(self, request):
        """The clip to validate next (the same one again while you hold it)."""
        return super().get(request)


class LabellingNextApi(NextApi):
    kind = Assignment.Kind.LABELLING

    @extend_schema(operation_id="annotation_next", parameters=[PROJECT_PARAM], responses=HandoutSerializer)
    def get(self, request):
        """The clip to label next: breadth-first, never one you had before, blind."""
        return super().get(request)


class VoteSerializer(serializers.Serializer):
    clip = serializers.IntegerField()
    accept = serializers.BooleanField()
    reasons = serializers.ListField(child=serializers.SlugField(), required=False, default=list)
    time_spent_ms = serializers.IntegerField(required=False, default=0, min_value=0)


class ValidationVoteApi(APIView):
    @extend_schema(
        operation_id="validation_vote",
        request=VoteSerializer,
        responses={
            201: OpenApiResponse(description="Vote stored"),
            400: OpenApiResponse(description="Too soon, unknown or missing reason"),
            409: OpenApiResponse(description="Not held, already voted, already decided"),
        },
    )
    def post(self, request):
        data = VoteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        vote = services.validation_vote(
            user=request.user,
            clip_id=v["clip"],
            accept=v["accept"],
            reasons=v["reasons"],
            time_spent_ms=v["time_spent_ms"],
        )
        vote.clip.refresh_from_db(fields=["status"])
        return Response(
            {
                "id": vote.pk,
                "clip": vote.clip_id,
                "clip_status": vote.clip.status,
                "counts": selectors.user_counts(user=request.user),
            },
            status=status.HTTP_201_CREATED,
        )


class ClipRefSerializer(serializers.Serializer):
    clip = serializers.IntegerField()


class SkipApi(APIView):
    kind: str = ""

    def post(self, request):
        data = ClipRefSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.assignment_skip(user=request.user, clip_id=data.validated_data["clip"], kind=self.kind)
        return Response({"detail": "Skipped."})


class ValidationSkipApi(SkipApi):
    kind = Assignment.Kind.VALIDATION

    @extend_schema(
        operation_id="validation_skip",
        request=ClipRefSerializer,
        responses={200: OpenApiResponse(description="Skipped")},
    )
    def post(self, request):
        return super().post(request)


class LabellingSkipApi(SkipApi):
    kind = Assignment.Kind.LABELLING

    @extend_schema(
        operation_id="annotation_skip",
        request=ClipRefSerializer,
        responses={200: OpenApiResponse(description="Skipped")},
    )
    def post(self, request):
        return super().post(request)


class AnnotationSerializer(serializers.Serializer):
    clip = serializers.IntegerField()
    emotion = serializers.CharField(max_length=30)
    gender = serializers.CharField(max_length=30, required=False, allow_blank=True, default="")
    time_spent_ms = serializers.IntegerField(required=False, default=0, min_value=0)
    comment = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)
    shown_prediction = serializers.JSONField(required=False, allow_null=True, default=None)


class AnnotationSubmitApi(APIView):
    @extend_schema(
        operation_id="annotation_submit",
        request=AnnotationSerializer,
        responses={
            201: OpenApiResponse(description="Label stored"),
            400: OpenApiResponse(description="Unknown label, gender missing"),
            409: OpenApiResponse(description="Not held, already labelled, expired and full"),
        },
    )
    def post(self, request):
        data = AnnotationSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        annotation = services.annotation_submit(
            user=request.user, clip_id=data.validated_data.pop("clip"), **data.validated_data
        )
        return Response(
            {
                "id": annotation.pk,
                "clip": annotation.clip_id,
                "counts": selectors.user_counts(user=request.user),
            },
            status=status.HTTP_201_CREATED,
        )


class FlagSerializer(serializers.Serializer):
    clip = serializers.IntegerField()
    reason = serializers.SlugField(required=False, allow_blank=True, default="")
    comment = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)


class FlagApi(APIView):
    @extend_schema(
        operation_id="annotation_flag",
        request=FlagSerializer,
        responses={201: OpenApiResponse(description="Sent back to validation")},
    )
    def post(self, request):
        """Send the clip in hand back to validation, with a reason (labels already given stay)."""
        data = FlagSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        flag = services.clip_flag(
            user=request.user,
            clip_id=data.validated_data["clip"],
            reason=data.validated_data["reason"] or None,
            comment=data.validated_data["comment"],
        )
        return Response({"id": flag.pk, "detail": "Sent back to validation."}, status=status.HTTP_201_CREATED)


class MyCountsApi(APIView):
    @extend_schema(
        operation_id="annotation_me",
        responses=inline_serializer(
            "MyCounts",
            {
                "labelled_today": serializers.IntegerField(),
                "labelled_total": serializers.IntegerField(),
                "validated_today": serializers.IntegerField(),
                "validated_total": serializers.IntegerField(),
            },
        ),
    )
    def get(self, request):
        """Your own counters (today and in total)."""
        return Response(selectors.user_counts(user=request.user))


class CuratorApi(APIView):
    """Base of the curators' endpoints (progress, rejected clips, agreement, adjudication)."""

    permission_classes = [RolePermission(roles.CURATOR)]


class ProgressApi(CuratorApi):
    @extend_schema(
        operation_id="annotation_progress",
        parameters=[PROJECT_PARAM],
        responses=inline_serializer(
            "AnnotatorProgress",
            {
                "annotators": serializers.ListField(),
                "validators": serializers.ListField(),
                "pool": serializers.DictField(),
            },
        ),
    )
    def get(self, request):
        """Per-annotator progress of a project (curators): clips done, time per clip, skip rate."""
        project = project_for_user(request.user, request.query_params.get("project"))
        return Response(selectors.project_progress(project=project))


class RejectedApi(CuratorApi):
    @extend_schema(
        operation_id="validation_rejected",
        parameters=[PROJECT_PARAM],
        responses=inline_serializer("RejectedClips", {"results": serializers.ListField()}),
    )
    def get(self, request):
        """Rejected clips with their reasons (curators), to review and overturn."""
        project = project_for_user(request.user, request.query_params.get("project"))
        return Response({"results": selectors.rejected_clips(project=project)})


class DecisionSerializer(serializers.Serializer):
    clip = serializers.IntegerField()
    accept = serializers.BooleanField()
    note = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)


class DecisionApi(CuratorApi):
    @extend_schema(
        operation_id="validation_overturn",
        request=DecisionSerializer,
        responses={201: OpenApiResponse(description="Decision recorded")},
    )
    def post(self, request):
        """A curator overturns a validation decision."""
        data = DecisionSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        corpus_selectors.clip_for_user(request.user, v["clip"])  # 404 outside the user's projects
        decision = services.clip_decision_overturn(
            curator=request.user, clip_id=v["clip"], accept=v["accept"], note=v["note"]
        )
        return Response(
            {"id": decision.pk, "clip": v["clip"], "accepted": decision.accepted},
            status=status.HTTP_201_CREATED,
        )


# --- agreement, consensus, adjudication (curators) ----------------------------------------------


class AgreementApi(CuratorApi):
    @extend_schema(
        operation_id="agreement_figures",
        parameters=[
            PROJECT_PARAM,
            OpenApiParameter("source", int, many=True, description="Source id(s)"),
            OpenApiParameter("date_from", str, description="Labels given on or after (YYYY-MM-DD)"),
            OpenApiParameter("date_to", str, description="Labels given on or before (YYYY-MM-DD)"),
        ],
        responses=inline_serializer(
            "AgreementFigures",
            {
                "fleiss_kappa": serializers.FloatField(allow_null=True),
                "krippendorff_alpha": serializers.FloatField(allow_null=True),
                "corpus_table": serializers.DictField(),
            },
        ),
    )
    def get(self, request):
        """Fleiss' kappa (overall, per emotion), Krippendorff's alpha, Cohen's kappa per pair,
        agreement with consensus, 3/3 and 2/3 shares, confusion, the corpus table, durations."""
        project = project_for_user(request.user, request.query_params.get("project"))
        params = AgreementQuerySerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        v = params.validated_data
        sources = [int(s) for s in request.query_params.getlist("source") if s.isdigit()]
        return Response(
            selectors.agreement_figures(
                project=project, source_ids=sources, date_from=v.get("date_from"), date_to=v.get("date_to")
            )
        )


class AgreementQuerySerializer(serializers.Serializer):
    date_from = serializers.DateField(required=False)
    date_to = serializers.DateField(required=False)


class RecomputeSerializer(serializers.Serializer):
    method = serializers.ChoiceField(choices=["majority", "dawid_skene"], required=False)


class ConsensusRecomputeApi(CuratorApi):
    @extend_schema(
        operation_id="consensus_recompute",
        parameters=[PROJECT_PARAM],
        request=RecomputeSerializer,
        responses=inline_serializer(
            "RecomputeResult", {"method": serializers.CharField(), "clips": serializers.IntegerField()}
        ),
    )
    def post(self, request):
        """Recompute every clip's consensus (majority, or Dawid-Skene over annotators' confusions)."""
        project = project_for_user(request.user, request.query_params.get("project"))
        data = RecomputeSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        result = consensus.consensus_recompute(project=project, method=data.validated_data.get("method"))
        return Response(result)


class DawidSkeneApi(CuratorApi):
    @extend_schema(
        operation_id="annotator_confusions",
        parameters=[PROJECT_PARAM],
        responses=inline_serializer(
            "AnnotatorConfusions",
            {"categories": serializers.ListField(), "annotators": serializers.ListField()},
        ),
    )
    def get(self, request):
        """Each annotator's confusion matrix as Dawid-Skene estimates it (true -> given)."""
        project = project_for_user(request.user, request.query_params.get("project"))
        return Response(selectors.annotator_confusions(project=project))


class AdjudicationQueueApi(CuratorApi):
    @extend_schema(
        operation_id="adjudication_queue",
        parameters=[PROJECT_PARAM],
        responses=inline_serializer("AdjudicationQueue", {"results": serializers.ListField()}),
    )
    def get(self, request):
        """Clips with no majority that you did not label, with their labels."""
        project = project_for_user(request.user, request.query_params.get("project"))
        return Response({"results": selectors.adjudication_items(project=project, curator=request.user)})


class AdjudicateSerializer(serializers.Serializer):
    clip = serializers.IntegerField()
    decision = serializers.ChoiceField(choices=["label", "send_back", "discard"])
    emotion = serializers.CharField(required=False, allow_blank=True, default="")
    gender = serializers.CharField(required=False, allow_blank=True, default="")
    note = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)


class AdjudicateApi(CuratorApi):
    @extend_schema(
        operation_id="adjudicate",
        request=AdjudicateSerializer,
        responses={201: OpenApiResponse(description="Decision recorded")},
    )
    def post(self, request):
        data = AdjudicateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        corpus_selectors.clip_for_user(request.user, v["clip"])  # 404 outside the user's projects
        adj = consensus.adjudicate(
            curator=request.user,
            clip_id=v["clip"],
            decision=v["decision"],
            emotion=v["emotion"] or None,
            gender=v["gender"] or None,
            note=v["note"],
        )
        return Response(
            {"id": adj.pk, "clip": adj.clip_id, "decision": adj.decision}, status=status.HTTP_201_CREATED
        )
