"""Admin pages of validation, labelling and consensus.

The guideline (rejection reasons, label schema, corpus label mappings) and per-project settings
are editable here. Votes, labels and releases are records: read-only, never edited by hand.
"""

from django.contrib import admin, messages
from django.utils.html import format_html

from annotation import consensus, services
from annotation.models import (
    Adjudication,
    Annotation,
    AnnotationConfig,
    AnnotatorStanding,
    Assignment,
    CheckAnswer,
    ClipConsensus,
    ClipDecision,
    Flag,
    GoldCheck,
    LabelOption,
    QuotaTarget,
    RejectionReason,
    ValidationVote,
)
from core import display
from core.admin import ProjectScopedAdmin, ReadOnlyAdmin, json_block, mapping_table
from core.errors import ApplicationError


@admin.register(AnnotationConfig)
class AnnotationConfigAdmin(ProjectScopedAdmin):
    list_display = [
        "project",
        "labels_per_clip",
        "validation_votes_needed",
        "assignment_minutes",
        "queue_policy",
        "quota_random_share",
        "consensus_method",
        "check_rate",
        "escalation",
        "max_labels_per_clip",
    ]
    actions = ["recompute_consensus"]
    # Changing one of these re-applies the rules to the labelling pool (`services.pool_reevaluate`).
    POOL_FIELDS = (
        "labels_per_clip",
        "max_labels_per_clip",
        "escalation",
        "escalation_min_agreement",
        "consensus_min_votes",
    )

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if change and any(f in form.changed_data for f in self.POOL_FIELDS):
            result = services.pool_reevaluate(project=obj.project)
            messages.info(
                request,
                f"Labelling pool re-evaluated under the new settings: {result['reopened']} labelled "
                f"clip(s) reopened for more labels, {result['closed']} clip(s) now labelled.",
            )

    @admin.action(description="Recompute the consensus of every labelled clip")
    def recompute_consensus(self, request, queryset):
        for config in queryset:
            result = consensus.consensus_recompute(project=config.project)
            # Not starting with the project's name: the admin capitalises a message's first letter.
            messages.success(
                request,
                format_html(
                    "Consensus of project <b>{}</b> recomputed ({}): {} labelled clip{}, "
                    "{} awaiting a curator.",
                    config.project,
                    result["method"].replace("_", "-"),
                    result["clips"],
                    "" if result["clips"] == 1 else "s",
                    result.get("needs_adjudication", 0),
                ),
            )


@admin.register(QuotaTarget)
class QuotaTargetAdmin(ProjectScopedAdmin):
    """Quota cells of the quota-driven labelling queue (also edited on the Quotas page)."""

    list_display = ["project", "emotion", "gender", "target", "updated_at"]
    list_filter = ["emotion", "gender"]
    list_editable = ["target"]


@admin.register(RejectionReason)
class RejectionReasonAdmin(admin.ModelAdmin):
    list_display = ["code", "text", "order", "active"]
    list_editable = ["order", "active"]


@admin.register(LabelOption)
class LabelOptionAdmin(admin.ModelAdmin):
    list_display = ["kind", "code", "name", "tier", "shortcut", "order", "active"]
    list_filter = ["kind", "tier", "active"]
    list_editable = ["order", "active"]


@admin.register(Assignment)
class AssignmentAdmin(ReadOnlyAdmin):
    project_field = "clip__recording__project"
    list_display = ["kind", "clip", "user", "state", "served_at", "expires_at"]
    list_filter = ["kind", "state"]
    raw_id_fields = ["clip"]


@admin.register(ValidationVote)
class ValidationVoteAdmin(ReadOnlyAdmin):
    project_field = "clip__recording__project"
    list_display = ["clip", "validator", "accept", "active", "created_at"]
    list_filter = ["accept", "active"]
    display_instead = {"time_spent_ms": "time_spent"}

    @admin.display(description="time spent")
    def time_spent(self, vote):
        return display.milliseconds(vote.time_spent_ms)


@admin.register(ClipDecision)
class ClipDecisionAdmin(ReadOnlyAdmin):
    project_field = "clip__recording__project"
    list_display = ["clip", "accepted", "by_curator", "created_at"]


@admin.register(Annotation)
class AnnotationAdmin(ReadOnlyAdmin):
    project_field = "clip__recording__project"
    list_display = ["clip", "annotator", "emotion", "gender", "time_spent", "created_at"]
    list_filter = ["emotion", "gender"]
    search_fields = ["annotator__username"]
    display_instead = {"time_spent_ms": "time_spent", "shown_prediction": "prediction_shown"}

    @admin.display(description="time spent", ordering="time_spent_ms")
    def time_spent(self, annotation):
        return display.milliseconds(annotation.time_spent_ms)

    @admin.display(description="pre-label shown")
    def prediction_shown(self, annotation):
        return json_block(annotation.shown_prediction)


@admin.register(Flag)
class FlagAdmin(ReadOnlyAdmin):
    project_field = "clip__recording__project"
    list_display = ["clip", "user", "reason", "created_at"]


@admin.register(ClipConsensus)
class ClipConsensusAdmin(ReadOnlyAdmin):
    project_field = "clip__recording__project"
    list_display = ["clip", "status", "emotion", "gender", "agreement", "method", "updated_at"]
    list_filter = ["status", "emotion", "method"]
    display_instead = {"distribution": "soft_label"}
    actions = ["mark_checks", "unmark_checks"]

    def _checks(self, request, queryset, change, verb: str) -> None:
        done, refused = 0, []
        for clip_id in queryset.values_list("clip_id", flat=True):
            try:
                change(curator=request.user, clip_id=clip_id)
                done += 1
            except ApplicationError as error:
                refused.append(f"#{clip_id}: {error}")
        messages.success(request, f"{done} clip{'' if done == 1 else 's'} {verb}.")
        if refused:
            messages.warning(request, "Refused: " + "; ".join(refused[:20]))

    @admin.action(description="Mark as hidden gold checks (agreed, adjudicated or gold clips)")
    def mark_checks(self, request, queryset):
        self._checks(request, queryset, services.gold_check_mark, "marked as checks")

    @admin.action(description="Unmark as hidden gold checks")
    def unmark_checks(self, request, queryset):
        self._checks(request, queryset, services.gold_check_unmark, "no longer checks")

    @admin.display(description="distribution (soft label)")
    def soft_label(self, consensus_row):
        return mapping_table(consensus_row.distribution, fmt=display.probability)


@admin.register(Adjudication)
class AdjudicationAdmin(ReadOnlyAdmin):
    project_field = "clip__recording__project"
    list_display = ["clip", "curator", "decision", "emotion", "created_at"]


@admin.register(GoldCheck)
class GoldCheckAdmin(ReadOnlyAdmin):
    list_display = ["clip", "emotion", "active", "created_by", "created_at"]
    list_filter = ["active", "emotion"]
    raw_id_fields = ["clip"]


@admin.register(CheckAnswer)
class CheckAnswerAdmin(ReadOnlyAdmin):
    project_field = "gold_check__project"
    list_display = ["gold_check", "user", "emotion", "correct", "created_at"]
    list_filter = ["correct"]


@admin.register(AnnotatorStanding)
class AnnotatorStandingAdmin(ReadOnlyAdmin):
    list_display = [
        "user",
        "project",
        "paused",
        "paused_at",
        "excluded",
        "action",
        "reviewed_by",
        "reviewed_at",
    ]
    list_filter = ["paused", "excluded"]
