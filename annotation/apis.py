"""REST API of validation and labelling: thin views over annotation.services."""

from __future__ import annotations

from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import generics, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from annotation import consensus, policies, selectors, services
from annotation.filters import ClipFilter, RejectedClipFilter
from annotation.models import (
    Adjudication,
    Annotation,
    AnnotationConfig,
    Assignment,
    ClipDecision,
    Flag,
    LabelOption,
    RejectionReason,
    ValidationVote,
)
from core import roles
from core.access import RolePermission, object_for_user, project_for_user
from core.serializers import CountField, IdField, IdListField, MillisecondsField
from corpus import selectors as corpus_selectors
from corpus.models import Clip
from corpus.serializers import ClipAudioUrlField

PROJECT_PARAM = OpenApiParameter("project", str, description="Project slug (default: your first project)")


class ClipInHandSerializer(serializers.Serializer):
    """Only what the person needs to hear the clip: no source, no other labels (blind)."""

    id = serializers.IntegerField(source="clip_id")
    duration_s = serializers.FloatField(source="clip.duration_s")
    audio_url = ClipAudioUrlField(source="clip_id")
    speech_prob = serializers.FloatField(
        source="clip.speech_prob",
        allow_null=True,
        required=False,
        help_text="Validation hand-outs only: Silero VAD's speech probability over the clip.",
    )

    one_speaker_conf = serializers.FloatField(
        source="clip.one_speaker_conf",
        allow_null=True,
        required=False,
        help_text="Validation hand-outs only: the speaker step's confidence that one voice alone speaks.",
    )
    speaker_label = serializers.CharField(
        source="clip.speaker_cluster.label",
        default="",
        required=False,
        help_text="Validation hand-outs only: the speaker cluster the clip belongs to.",
    )

    VALIDATION_ONLY = ("speech_prob", "one_speaker_conf", "speaker_label")

    def to_representation(self, instance):
        data = super().to_representation(instance)
        if self.context.get("kind") != Assignment.Kind.VALIDATION:
            for key in self.VALIDATION_ONLY:  # annotators get the audio and nothing else (blind)
                data.pop(key, None)
        return data


class CountsSerializer(serializers.Serializer):
    labelled_today = serializers.IntegerField()
    labelled_total = serializers.IntegerField()
    validated_today = serializers.IntegerField()
    validated_total = serializers.IntegerField()


class SuggestionSerializer(serializers.Serializer):
    label = serializers.CharField()
    probabilities = serializers.DictField(child=serializers.FloatField())
    model_version = serializers.IntegerField()


class HandoutSerializer(serializers.Serializer):
    """The answer to "next clip": the clip in hand (or none left), and the user's counters.

    `suggestion` (the pre-labeller's guess) is present only when the project shows it.
    """

    assignment = serializers.IntegerField(source="assignment.pk", allow_null=True)
    clip = ClipInHandSerializer(source="assignment", allow_null=True)
    served_at = serializers.DateTimeField(source="assignment.served_at", allow_null=True)
    expires_at = serializers.DateTimeField(source="assignment.expires_at", allow_null=True)
    resumed = serializers.BooleanField()
    detail = serializers.CharField()
    counts = CountsSerializer()
    suggestion = SuggestionSerializer(required=False)

    def to_representation(self, instance):
        data = super().to_representation(instance)
        if instance.get("suggestion") is None:
            data.pop("suggestion", None)
        return data


def _handout_response(handout, user, kind: str, project=None) -> Response:
    counts = selectors.user_counts(user=user)
    if handout is None:
        what = "validate" if kind == Assignment.Kind.VALIDATION else "label"
        body = {"assignment": None, "resumed": False, "detail": f"No clips left for you to {what} right now."}
    else:
        # e.g. the pre-labeller's suggestion, when the project shows it to annotators
        extras = policies.handout_extras(clip_id=handout.assignment.clip_id, project=project, kind=kind)
        body = {
            "assignment": handout.assignment,
            "resumed": handout.resumed,
            "detail": "You already hold this clip." if handout.resumed else "",
            "suggestion": extras.get("suggestion"),
        }
    return Response(HandoutSerializer({**body, "counts": counts}, context={"kind": kind}).data)


class LabelOptionSerializer(serializers.ModelSerializer):
    class Meta:
        model = LabelOption
        fields = ["code", "name", "tier", "description", "shortcut"]


class RejectionReasonSerializer(serializers.ModelSerializer):
    class Meta:
        model = RejectionReason
        fields = ["code", "text"]


class ProjectConfigSerializer(serializers.ModelSerializer):
    project = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    guideline = serializers.SerializerMethodField()

    class Meta:
        model = AnnotationConfig
        fields = [
            "project",
            "labels_per_clip",
            "max_labels_per_clip",
            "escalation",
            "escalation_min_agreement",
            "validation_votes_needed",
            "assignment_minutes",
            "guideline",
        ]

    def get_guideline(self, obj) -> str:
        return obj.guideline or selectors.default_guideline()


class LabelSchemaSerializer(serializers.Serializer):
    emotions = LabelOptionSerializer(many=True)
    genders = LabelOptionSerializer(many=True)
    reasons = RejectionReasonSerializer(many=True)
    config = ProjectConfigSerializer()


class SchemaApi(APIView):
    @extend_schema(
        operation_id="annotation_schema", parameters=[PROJECT_PARAM], responses=LabelSchemaSerializer
    )
    def get(self, request):
        """The label schema, rejection reasons and the project's settings (all data)."""
        project = project_for_user(request.user, request.query_params.get("project"))
        options = LabelOption.objects.filter(active=True)
        schema = {
            "emotions": options.filter(kind=LabelOption.Kind.EMOTION),
            "genders": options.filter(kind=LabelOption.Kind.GENDER),
            "reasons": RejectionReason.objects.filter(active=True),
            "config": services.config_for(project),
        }
        return Response(LabelSchemaSerializer(schema).data)


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
    clip = IdField()
    accept = serializers.BooleanField()
    reasons = serializers.ListField(
        child=serializers.SlugField(max_length=50), required=False, default=list, max_length=50
    )
    time_spent_ms = MillisecondsField(required=False, default=0)


class VoteOutSerializer(serializers.ModelSerializer):
    clip_status = serializers.CharField(source="clip.status")
    counts = CountsSerializer(source="counts_after")

    class Meta:
        model = ValidationVote
        fields = ["id", "clip", "clip_status", "counts"]


class AnnotationOutSerializer(serializers.ModelSerializer):
    """The answer to a label: the hand-out it answered, the clip, the user's counters.

    Never the Annotation's own id: a hidden check's answer is a CheckAnswer, a row of another
    table with its own id sequence, so an id that jumps back would tell the annotator which
    clip was a check. The assignment id is one sequence for both (and the annotator already
    had it from `next`).
    """

    assignment = serializers.IntegerField(
        source="assignment_id", help_text="The hand-out answered: `assignment` of the `next` answer."
    )
    counts = CountsSerializer(source="counts_after")

    class Meta:
        model = Annotation
        fields = ["assignment", "clip", "counts"]


class FlagOutSerializer(serializers.ModelSerializer):
    detail = serializers.SerializerMethodField()

    class Meta:
        model = Flag
        fields = ["id", "clip", "detail"]

    def get_detail(self, obj) -> str:
        return "Sent back to validation."


class DecisionOutSerializer(serializers.ModelSerializer):
    class Meta:
        model = ClipDecision
        fields = ["id", "clip", "accepted"]


class AdjudicationOutSerializer(serializers.ModelSerializer):
    class Meta:
        model = Adjudication
        fields = ["id", "clip", "decision"]


class DetailSerializer(serializers.Serializer):
    detail = serializers.CharField()


class ValidationVoteApi(APIView):
    @extend_schema(
        operation_id="validation_vote",
        request=VoteSerializer,
        responses={
            201: VoteOutSerializer,
            400: OpenApiResponse(description="Too soon, unknown or missing reason"),
            409: OpenApiResponse(description="Not held, already voted, already decided"),
        },
    )
    def post(self, request):
        data = VoteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        corpus_selectors.clip_for_user(request.user, v["clip"])  # 404 outside the user's projects
        vote = services.validation_vote(
            user=request.user,
            clip_id=v["clip"],
            accept=v["accept"],
            reasons=v["reasons"],
            time_spent_ms=v["time_spent_ms"],
        )
        vote.clip.refresh_from_db(fields=["status"])
        vote.counts_after = selectors.user_counts(user=request.user)
        return Response(VoteOutSerializer(vote).data, status=status.HTTP_201_CREATED)


class ClipRefSerializer(serializers.Serializer):
    clip = IdField()


class SkipApi(APIView):
    kind: str = ""

    def post(self, request):
        data = ClipRefSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        # 404 outside the user's projects
        corpus_selectors.clip_for_user(request.user, data.validated_data["clip"])
        services.assignment_skip(user=request.user, clip_id=data.validated_data["clip"], kind=self.kind)
        return Response(DetailSerializer({"detail": "Skipped."}).data)


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
    clip = IdField()
    emotion = serializers.CharField(max_length=30)
    gender = serializers.CharField(max_length=30, required=False, allow_blank=True, default="")
    time_spent_ms = MillisecondsField(required=False, default=0)
    comment = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)
    shown_prediction = serializers.JSONField(required=False, allow_null=True, default=None)


class AnnotationSubmitApi(APIView):
    @extend_schema(
        operation_id="annotation_submit",
        request=AnnotationSerializer,
        responses={
            201: AnnotationOutSerializer,
            400: OpenApiResponse(description="Unknown label, gender missing"),
            409: OpenApiResponse(description="Not held, already labelled, expired and full"),
        },
    )
    def post(self, request):
        data = AnnotationSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        # 404 outside the user's projects
        corpus_selectors.clip_for_user(request.user, data.validated_data["clip"])
        annotation = services.annotation_submit(
            user=request.user, clip_id=data.validated_data.pop("clip"), **data.validated_data
        )
        annotation.counts_after = selectors.user_counts(user=request.user)
        return Response(AnnotationOutSerializer(annotation).data, status=status.HTTP_201_CREATED)


class FlagSerializer(serializers.Serializer):
    clip = IdField()
    reason = serializers.SlugField(required=False, allow_blank=True, default="", max_length=50)
    comment = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)


class FlagApi(APIView):
    @extend_schema(
        operation_id="annotation_flag",
        request=FlagSerializer,
        responses={201: FlagOutSerializer},
    )
    def post(self, request):
        """Send the clip in hand back to validation, with a reason (labels already given stay)."""
        data = FlagSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        # 404 outside the user's projects
        corpus_selectors.clip_for_user(request.user, data.validated_data["clip"])
        flag = services.clip_flag(
            user=request.user,
            clip_id=data.validated_data["clip"],
            reason=data.validated_data["reason"] or None,
            comment=data.validated_data["comment"],
        )
        return Response(FlagOutSerializer(flag).data, status=status.HTTP_201_CREATED)


class MyCountsApi(APIView):
    @extend_schema(
        operation_id="annotation_me",
        responses=CountsSerializer,
    )
    def get(self, request):
        """Your own counters (today and in total)."""
        return Response(CountsSerializer(selectors.user_counts(user=request.user)).data)


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


class RejectedVoteSerializer(serializers.Serializer):
    validator = serializers.CharField(source="validator.username")
    accept = serializers.BooleanField()
    reasons = serializers.SerializerMethodField()

    def get_reasons(self, vote) -> list[str]:
        return [reason.text for reason in vote.reasons.all()]


class RejectedClipSerializer(serializers.Serializer):
    clip = serializers.IntegerField(source="pk")
    recording = serializers.IntegerField(source="recording_id")
    start_s = serializers.FloatField()
    duration_s = serializers.FloatField()
    audio_url = ClipAudioUrlField(source="pk")
    votes = RejectedVoteSerializer(source="active_votes", many=True)


class AdjudicationItemSerializer(serializers.Serializer):
    clip = serializers.IntegerField(source="clip_id")
    duration_s = serializers.FloatField()
    audio_url = ClipAudioUrlField(source="clip_id")
    labels = serializers.ListField(child=serializers.DictField())
    distribution = serializers.DictField(child=serializers.FloatField())


class RejectedApi(CuratorApi, generics.ListAPIView):
    """Rejected clips with their reasons (curators), to review and overturn: newest first, paged
    (`count`, `results`), filtered by `RejectedClipFilter`."""

    queryset = Clip.objects.none()  # for the schema only: get_queryset scopes to the project
    serializer_class = RejectedClipSerializer
    filter_backends = [DjangoFilterBackend]
    filterset_class = RejectedClipFilter

    def get_queryset(self):
        project = project_for_user(self.request.user, self.request.query_params.get("project"))
        return selectors.rejected_clips(project=project)

    @extend_schema(operation_id="validation_rejected", parameters=[PROJECT_PARAM])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class ClipListItemSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    recording = serializers.IntegerField(source="recording_id")
    source_title = serializers.CharField(source="recording.source.title")
    episode = serializers.CharField(source="recording.source.episode")
    start_s = serializers.FloatField()
    end_s = serializers.FloatField()
    duration_s = serializers.FloatField()
    status = serializers.CharField()
    speaker_cluster = serializers.IntegerField(source="speaker_cluster_id", allow_null=True)
    speaker_label = serializers.CharField(source="speaker_cluster.display", default="")
    emotion = serializers.CharField(source="consensus.emotion.code", default=None, allow_null=True)
    gender = serializers.CharField(source="consensus.gender.code", default=None, allow_null=True)
    consensus = serializers.CharField(source="consensus.status", default=None, allow_null=True)
    audio_url = ClipAudioUrlField(source="pk")


class ClipListApi(generics.ListAPIView):
    """The clips of the user's projects (curators and ML staff), newest first, paged (`count`,
    `results`) and filtered by `ClipFilter`: series, episode, recording, status, speaker cluster,
    consensus emotion/gender/status, dates."""

    permission_classes = [RolePermission(*roles.INGEST_ROLES)]
    serializer_class = ClipListItemSerializer
    filter_backends = [DjangoFilterBackend]
    filterset_class = ClipFilter

    def get_queryset(self):
        return selectors.clips_listed_for_user(self.request.user)

    @extend_schema(operation_id="clips_list")
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class DecisionSerializer(serializers.Serializer):
    clip = IdField()
    accept = serializers.BooleanField()
    note = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)


class DecisionApi(CuratorApi):
    @extend_schema(
        operation_id="validation_overturn",
        request=DecisionSerializer,
        responses={201: DecisionOutSerializer},
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
        return Response(DecisionOutSerializer(decision).data, status=status.HTTP_201_CREATED)


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
                "fleiss_note": serializers.CharField(),
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
        return Response(
            selectors.agreement_figures(
                project=project,
                source_ids=v.get("source", []),
                date_from=v.get("date_from"),
                date_to=v.get("date_to"),
            )
        )


class AgreementQuerySerializer(serializers.Serializer):
    source = IdListField(required=False)
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
            {
                "categories": serializers.ListField(),
                "annotators": serializers.ListField(),
                "n_multi_label_clips": serializers.IntegerField(),
                "min_clips": serializers.IntegerField(),
            },
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
        responses=inline_serializer("AdjudicationQueue", {"results": AdjudicationItemSerializer(many=True)}),
    )
    def get(self, request):
        """Clips with no majority that you did not label, with their labels."""
        project = project_for_user(request.user, request.query_params.get("project"))
        items = selectors.adjudication_items(project=project, curator=request.user)
        return Response({"results": AdjudicationItemSerializer(items, many=True).data})


class AdjudicateSerializer(serializers.Serializer):
    clip = IdField()
    decision = serializers.ChoiceField(choices=["label", "send_back", "discard"])
    emotion = serializers.CharField(required=False, allow_blank=True, default="", max_length=30)
    gender = serializers.CharField(required=False, allow_blank=True, default="", max_length=30)
    note = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)


class AdjudicateApi(CuratorApi):
    @extend_schema(
        operation_id="adjudicate",
        request=AdjudicateSerializer,
        responses={201: AdjudicationOutSerializer},
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
        return Response(AdjudicationOutSerializer(adj).data, status=status.HTTP_201_CREATED)


# --- hidden gold checks and annotator standing (curators) ---------------------------------------


class GoldCheckOutSerializer(serializers.Serializer):
    clip = serializers.IntegerField(source="clip_id")
    emotion = serializers.CharField(source="emotion.code")
    active = serializers.BooleanField()
    created_by = serializers.CharField(source="created_by.username", default=None, allow_null=True)
    created_at = serializers.DateTimeField()
    n_answers = serializers.IntegerField(default=0)
    n_correct = serializers.IntegerField(default=0)


class GoldCheckMarkSerializer(serializers.Serializer):
    clip = IdField()
    emotion = serializers.SlugField(required=False, allow_blank=True, default="", max_length=30)


class GoldCheckListApi(CuratorApi):
    @extend_schema(
        operation_id="gold_checks",
        parameters=[PROJECT_PARAM],
        responses=inline_serializer("GoldChecks", {"results": GoldCheckOutSerializer(many=True)}),
    )
    def get(self, request):
        """The project's hidden gold checks (curators), active first, with their answer counts."""
        project = project_for_user(request.user, request.query_params.get("project"))
        checks = selectors.checks_for_project(project=project)
        return Response({"results": GoldCheckOutSerializer(checks, many=True).data})

    @extend_schema(
        operation_id="gold_check_mark",
        request=GoldCheckMarkSerializer,
        responses={
            201: GoldCheckOutSerializer,
            409: OpenApiResponse(description="Not an agreed, adjudicated or gold clip"),
        },
    )
    def post(self, request):
        """Mark an agreed, adjudicated or gold clip as a hidden check (its consensus emotion, or
        `emotion`, is the reference)."""
        data = GoldCheckMarkSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        corpus_selectors.clip_for_user(request.user, v["clip"])  # 404 outside the user's projects
        check = services.gold_check_mark(
            curator=request.user, clip_id=v["clip"], emotion=v["emotion"] or None
        )
        return Response(GoldCheckOutSerializer(check).data, status=status.HTTP_201_CREATED)


class GoldCheckApi(CuratorApi):
    @extend_schema(operation_id="gold_check_unmark", responses={200: GoldCheckOutSerializer})
    def delete(self, request, pk: int):
        """Stop handing clip `pk` out as a check (answers already given stay)."""
        corpus_selectors.clip_for_user(request.user, pk)  # 404 outside the user's projects
        check = services.gold_check_unmark(curator=request.user, clip_id=pk)
        return Response(GoldCheckOutSerializer(check).data)


class StandingSerializer(serializers.Serializer):
    action = serializers.ChoiceField(choices=services.STANDING_ACTIONS)


class StandingOutSerializer(serializers.Serializer):
    user = serializers.CharField(source="user.username")
    paused = serializers.BooleanField()
    excluded = serializers.BooleanField()
    action = serializers.CharField()
    reviewed_by = serializers.CharField(source="reviewed_by.username", default=None, allow_null=True)
    reviewed_at = serializers.DateTimeField(allow_null=True)


class AnnotatorStandingApi(CuratorApi):
    @extend_schema(
        operation_id="annotator_standing",
        parameters=[PROJECT_PARAM],
        request=StandingSerializer,
        responses={200: StandingOutSerializer},
    )
    def post(self, request, pk: int):
        """Resume a paused annotator (user id `pk`), or exclude / re-include their labels
        (consensus is recomputed, clips below K counted labels return to the pool)."""
        project = project_for_user(request.user, request.query_params.get("project"))
        data = StandingSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        standing = services.annotator_standing_set(
            curator=request.user, project=project, user_id=pk, action=data.validated_data["action"]
        )
        return Response(StandingOutSerializer(standing).data)


# --- quota targets (curators) --------------------------------------------------------------------


class ProjectQuerySerializer(serializers.Serializer):
    project = serializers.SlugField(required=False, max_length=80, help_text="Project slug (default: yours)")


class QuotaTargetOutSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    emotion = serializers.CharField(source="emotion.code")
    gender = serializers.CharField(source="gender.code", allow_null=True, default=None)
    target = serializers.IntegerField()


class QuotaTargetSerializer(serializers.Serializer):
    emotion = serializers.CharField(max_length=30)
    gender = serializers.CharField(
        max_length=30,
        required=False,
        allow_blank=True,
        allow_null=True,
        default="",
        help_text="Blank: any gender",
    )
    target = CountField(help_text="Clips wanted in this cell (0 or more)")


class QuotaTargetPatchSerializer(serializers.Serializer):
    target = CountField(help_text="Clips wanted in this cell (0 or more)")


class QuotaTargetListApi(CuratorApi):
    @extend_schema(
        operation_id="quota_targets",
        parameters=[ProjectQuerySerializer],
        responses=inline_serializer("QuotaTargets", {"results": QuotaTargetOutSerializer(many=True)}),
    )
    def get(self, request):
        """The project's quota cells (emotion, gender or any, target); figures at /api/inference/quotas/."""
        query = ProjectQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        project = project_for_user(request.user, query.validated_data.get("project"))
        rows = selectors.quota_targets(project=project)
        return Response({"results": QuotaTargetOutSerializer(rows, many=True).data})

    @extend_schema(
        operation_id="quota_target_set",
        parameters=[ProjectQuerySerializer],
        request=QuotaTargetSerializer,
        responses={200: QuotaTargetOutSerializer, 201: QuotaTargetOutSerializer},
    )
    def post(self, request):
        """Set a cell's target (created, or its target changed: 201 or 200)."""
        query = ProjectQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        project = project_for_user(request.user, query.validated_data.get("project"))
        data = QuotaTargetSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        row, created = services.quota_target_set(
            user=request.user,
            project=project,
            emotion=v["emotion"],
            gender=v["gender"] or None,
            target=v["target"],
        )
        return Response(
            QuotaTargetOutSerializer(row).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


class QuotaTargetDetailApi(CuratorApi):
    def _row(self, request, pk):
        return object_for_user(selectors.quota_targets_for_user(request.user), pk, what="quota target")

    @extend_schema(
        operation_id="quota_target_update",
        request=QuotaTargetPatchSerializer,
        responses=QuotaTargetOutSerializer,
    )
    def patch(self, request, pk: int):
        """Change a cell's target."""
        row = self._row(request, pk)
        data = QuotaTargetPatchSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        row = services.quota_target_update(
            user=request.user, quota_target=row, target=data.validated_data["target"]
        )
        return Response(QuotaTargetOutSerializer(row).data)

    @extend_schema(operation_id="quota_target_delete", responses={204: None})
    def delete(self, request, pk: int):
        """Remove a cell from the project's quotas."""
        services.quota_target_delete(user=request.user, quota_target=self._row(request, pk))
        return Response(status=status.HTTP_204_NO_CONTENT)
