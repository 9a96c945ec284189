"""Validation and labelling: people turn clips into labelled data.

Validation: every new clip is heard by validators who accept it or reject it with reasons from
the corpus guideline (RejectionReason, data). Accepted clips enter the labelling pool.
Labelling: each accepted clip is labelled, blind, by K different annotators
(AnnotationConfig.labels_per_clip), and by more, one at a time up to `max_labels_per_clip`, while
its labels disagree (dynamic overlap, `AnnotationConfig.escalation`). Work is handed out as
Assignments (one live per user and kind, expiring after a few minutes); PoolEntry keeps the per-clip
counters the queue needs.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q

from core.models import Project
from corpus.models import Clip

MAX_LABELS_PER_CLIP = 15  # the most labels any clip may receive, whatever the settings


class AnnotationConfig(models.Model):
    class Escalation(models.TextChoices):
        """When a clip whose K labels disagree goes back to the pool for one more rater
        (`annotation.crowd.needs_more_raters`)."""

        OFF = "off", "Off: K labels, then a curator decides ties"
        NO_MAJORITY = "no_majority", "One more rater while there is no majority"
        BELOW_AGREEMENT = "below_agreement", "One more rater while the winner's share is below the minimum"

    project = models.OneToOneField(Project, on_delete=models.CASCADE, related_name="annotation_config")
    labels_per_clip = models.PositiveSmallIntegerField(
        default=3,
        validators=[MinValueValidator(1), MaxValueValidator(15)],
        help_text="K annotators per clip.",
    )
    validation_votes_needed = models.PositiveSmallIntegerField(
        default=1,
        validators=[MinValueValidator(1), MaxValueValidator(10)],
        help_text="A clip is decided when one side has at least this many votes and more than the other.",
    )
    assignment_minutes = models.PositiveSmallIntegerField(
        default=5,
        validators=[MinValueValidator(1), MaxValueValidator(120)],
        help_text="A clip handed out and not answered within this time returns to the pool.",
    )
    queue_policy = models.CharField(
        max_length=50,
        default="breadth_first",
        help_text="How the labelling queue is ordered (see annotation.policies).",
    )
    guideline = models.TextField(
        blank=True, help_text="Shown to annotators on '?'. Blank: the default guideline."
    )
    consensus_method = models.CharField(
        max_length=20,
        default="majority",
        choices=[("majority", "Majority vote"), ("dawid_skene", "Dawid-Skene (EM)")],
    )
    consensus_min_votes = models.PositiveSmallIntegerField(
        default=2,
        validators=[MinValueValidator(1)],
        help_text="Votes the winning emotion needs (2 of 3 by default).",
    )
    # Hidden gold checks (Busso et al. 2014): reference clips handed out among ordinary ones.
    check_rate = models.FloatField(
        default=0.0,
        validators=[MinValueValidator(0.0), MaxValueValidator(0.5)],
        help_text="Share of labelling hand-outs that are hidden gold checks (0: off; 0.05: 1 in 20).",
    )
    check_warmup = models.PositiveSmallIntegerField(
        default=10,
        validators=[MaxValueValidator(100)],
        help_text="An annotator's first hand-outs in the project that are checks (a qualification phase, "
        "so a careless rater is paused before giving many labels); then checks come at the rate.",
    )
    check_min_answers = models.PositiveSmallIntegerField(
        default=10,
        validators=[MinValueValidator(1)],
        help_text="Checks an annotator answers before their accuracy can pause them.",
    )
    check_threshold = models.FloatField(
        default=0.6,
        validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
        help_text="Paused when the upper end of the 95 % Wilson interval of the accuracy on checks "
        "is below this.",
    )
    quota_random_share = models.FloatField(
        default=0.10,
        validators=[MinValueValidator(0.0), MaxValueValidator(0.5)],
        help_text="Quota-driven queue: share of hand-outs drawn uniformly at random instead of by the "
        "quota ranking (0-0.5), so the pre-labeller's bias can be measured on those picks.",
    )
    escalation = models.CharField(
        max_length=20,
        choices=Escalation.choices,
        default=Escalation.NO_MAJORITY,
        help_text="Dynamic overlap: when a clip whose labels disagree gets one more rater "
        "(up to the maximum below) instead of going straight to a curator.",
    )
    escalation_min_agreement = models.FloatField(
        default=0.67,
        validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
        help_text="With 'below_agreement': the share of the labels (0-1) the winning emotion needs.",
    )
    max_labels_per_clip = models.PositiveSmallIntegerField(
        default=5,
        validators=[MinValueValidator(1), MaxValueValidator(MAX_LABELS_PER_CLIP)],
        help_text="The most labels a clip may receive with escalation (at least K, at most 15); a clip "
        "still without consensus at this many goes to a curator.",
    )

    def __str__(self) -> str:
        return f"Annotation settings of {self.project}"

    def clean(self) -> None:
        """The maximum of labels per clip is never below K (admin and ModelForm validation)."""
        super().clean()
        if (
            self.max_labels_per_clip is not None
            and self.labels_per_clip is not None
            and self.max_labels_per_clip < self.labels_per_clip
        ):
            raise ValidationError(
                {
                    "max_labels_per_clip": f"The maximum of labels per clip ({self.max_labels_per_clip}) "
                    f"cannot be below K, the labels per clip ({self.labels_per_clip})."
                }
            )

    @property
    def max_raters(self) -> int:
        """The most labels a clip may get: `max_labels_per_clip`, never below K; K when
        escalation is off."""
        if self.escalation == self.Escalation.OFF:
            return self.labels_per_clip
        return max(self.labels_per_clip, self.max_labels_per_clip)

    @property
    def min_agreement(self) -> float | None:
        """The winner's share `crowd.needs_more_raters` requires: `escalation_min_agreement`
        under "below_agreement", else None (no such rule)."""
        if self.escalation == self.Escalation.BELOW_AGREEMENT:
            return self.escalation_min_agreement
        return None


class QuotaTarget(models.Model):
    """How many clips a project wants of one emotion (and one speaker gender, or any): a cell of
    the quota-driven labelling queue (`inference` ranks clips by the cells still short).

    A cell counts the project's clips whose usable consensus (agreed, adjudicated or gold) has
    its emotion, and its gender when the cell names one (`annotation.selectors.quota_counts`).
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="quota_targets")
    emotion = models.ForeignKey(
        "LabelOption", on_delete=models.PROTECT, related_name="+", limit_choices_to={"kind": "emotion"}
    )
    gender = models.ForeignKey(
        "LabelOption",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        limit_choices_to={"kind": "gender"},
        help_text="Blank: any gender.",
    )
    target = models.PositiveIntegerField(help_text="Clips wanted in this cell.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["project_id", "emotion__order", "gender__order", "id"]
        constraints = [
            # One row per cell; "any gender" (NULL) needs its own partial index, NULLs being distinct.
            models.UniqueConstraint(
                fields=["project", "emotion", "gender"],
                condition=Q(gender__isnull=False),
                name="quota_target_unique_cell",
            ),
            models.UniqueConstraint(
                fields=["project", "emotion"],
                condition=Q(gender__isnull=True),
                name="quota_target_unique_any_gender",
            ),
        ]

    def __str__(self) -> str:
        who = self.gender.code if self.gender_id else "any gender"
        return f"{self.emotion.code} / {who}: {self.target}"

    @property
    def cell(self) -> tuple[str, str | None]:
        """The cell's key in quota figures: (emotion code, gender code or None)."""
        return (self.emotion.code, self.gender.code if self.gender_id else None)


class RejectionReason(models.Model):
    """Why a validator rejects a clip: data, editable in the admin (the corpus guideline)."""

    code = models.SlugField(max_length=40, unique=True)
    text = models.CharField(max_length=200)
    order = models.PositiveSmallIntegerField(default=0)
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["order", "code"]

    def __str__(self) -> str:
        return self.text


class LabelOption(models.Model):
    """One value of the label schema: an emotion or a gender (data, not code)."""

    class Kind(models.TextChoices):
        EMOTION = "emotion", "Emotion"
        GENDER = "gender", "Speaker gender"

    class Tier(models.TextChoices):
        PRIMARY = "primary", "Primary"
        SECONDARY = "secondary", "Secondary"

    kind = models.CharField(max_length=10, choices=Kind.choices)
    code = models.SlugField(max_length=30)
    name = models.CharField(max_length=60)
    tier = models.CharField(max_length=10, choices=Tier.choices, blank=True)
    description = models.CharField(max_length=300, blank=True)
    shortcut = models.CharField(max_length=1, blank=True, help_text="Keyboard key on the annotator page.")
    order = models.PositiveSmallIntegerField(default=0)
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["kind", "order"]
        constraints = [models.UniqueConstraint(fields=["kind", "code"], name="label_option_unique_code")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.name}"


class QueuePick(models.TextChoices):
    RANKED = "ranked", "By the queue's ranking"
    RANDOM = "random", "Uniformly at random"


class Assignment(models.Model):
    """A clip handed to one person for one task. At most one live assignment per user and kind."""

    class Kind(models.TextChoices):
        VALIDATION = "validation", "Validation"
        LABELLING = "labelling", "Labelling"

    class State(models.TextChoices):
        LIVE = "live", "Live"
        DONE = "done", "Done"
        SKIPPED = "skipped", "Skipped"
        EXPIRED = "expired", "Expired"

    kind = models.CharField(max_length=12, choices=Kind.choices)
    # An unanswered assignment is not work: re-segmentation may delete its clip (CASCADE);
    # votes and annotations PROTECT their clips instead.
    clip = models.ForeignKey(Clip, on_delete=models.CASCADE, related_name="assignments")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="assignments")
    state = models.CharField(max_length=10, choices=State.choices, default=State.LIVE)
    served_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    # Server-side only, never serialised: this hand-out is a hidden gold check (annotation_submit
    # routes its answer to a CheckAnswer, never an Annotation; its clip's PoolEntry is untouched).
    gold_check = models.ForeignKey(
        "annotation.GoldCheck", null=True, blank=True, on_delete=models.PROTECT, related_name="assignments"
    )
    # How the hand-out chose the clip (labelling only): by the queue's ranking, or uniformly at
    # random (the quota queue's random share). Curators' figures only; never sent to annotators.
    queue_pick = models.CharField(max_length=8, choices=QueuePick.choices, blank=True, default="")

    class Meta:
        constraints = [
            # "Asking again returns the same clip": the database itself refuses a second live one.
            models.UniqueConstraint(
                fields=["user", "kind"], condition=Q(state="live"), name="one_live_assignment_per_user"
            ),
        ]
        indexes = [
            # Expiry sweep in assignment_next: live assignments past their deadline.
            models.Index(fields=["state", "expires_at"], name="assignment_state_expiry"),
            # "Never the same clip twice": has this user been handed this clip before?
            models.Index(fields=["user", "kind", "clip"], name="assignment_user_clip"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} of clip #{self.clip_id} to {self.user} ({self.state})"


class PoolEntry(models.Model):
    """Per-clip queue counters, updated in the same transaction as the rows they count.

    kind=validation: n_done counts active votes; kind=labelling: n_done counts annotations.
    `open` is False once n_done + n_live reaches what the clip needs, so the next-clip query
    scans only clips that can still be handed out.

    Labelling only: `wanted` is the number of labels the clip needs now, K at first; when its
    labels disagree at `wanted` the clip is escalated (`escalated` True, `wanted` + 1, reopened),
    up to `AnnotationConfig.max_labels_per_clip`. Escalated entries are handed out first
    (`policies.order`). Neither is ever shown to annotators (blind).
    """

    kind = models.CharField(max_length=12, choices=Assignment.Kind.choices)
    clip = models.ForeignKey(Clip, on_delete=models.CASCADE, related_name="pool_entries")
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    n_done = models.PositiveSmallIntegerField(default=0)
    n_live = models.PositiveSmallIntegerField(default=0)
    open = models.BooleanField(default=True)
    # Set by a registered queue policy (e.g. the pre-labeller's rarity or uncertainty); lower first.
    priority = models.FloatField(default=0.0)
    wanted = models.PositiveSmallIntegerField(default=0, help_text="Labels the clip needs now (labelling).")
    escalated = models.BooleanField(default=False, help_text="Its first K labels disagreed: more raters.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "pool entries"
        constraints = [models.UniqueConstraint(fields=["kind", "clip"], name="pool_entry_unique_clip")]
        indexes = [
            # assignment_next: open entries of a project, escalated first (`policies.order`), then
            # breadth-first (most done first), then priority.
            models.Index(
                fields=["project", "kind", "open", "-escalated", "-n_done", "priority", "clip"],
                name="pool_next",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} pool: clip #{self.clip_id} ({self.n_done} done, {self.n_live} live)"


class ValidationVote(models.Model):
    clip = models.ForeignKey(Clip, on_delete=models.PROTECT, related_name="validation_votes")
    validator = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="validation_votes"
    )
    accept = models.BooleanField()
    reasons = models.ManyToManyField(RejectionReason, blank=True)
    # Votes of an earlier round stop counting when an annotator flags the clip back to validation.
    active = models.BooleanField(default=True)
    assignment = models.OneToOneField(Assignment, null=True, blank=True, on_delete=models.SET_NULL)
    time_spent_ms = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["clip", "validator"], condition=Q(active=True), name="one_active_vote_per_validator"
            ),
        ]

    def __str__(self) -> str:
        return f"{'accept' if self.accept else 'reject'} clip #{self.clip_id} by {self.validator_id}"


class ClipDecision(models.Model):
    """The outcome of validation for a clip: by the votes, or by a curator who overturned them."""

    clip = models.ForeignKey(Clip, on_delete=models.PROTECT, related_name="decisions")
    accepted = models.BooleanField()
    by_curator = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    note = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"clip #{self.clip_id} {'accepted' if self.accepted else 'rejected'}"


class Annotation(models.Model):
    clip = models.ForeignKey(Clip, on_delete=models.PROTECT, related_name="annotations")
    annotator = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="annotations"
    )
    emotion = models.ForeignKey(
        LabelOption, on_delete=models.PROTECT, related_name="+", limit_choices_to={"kind": "emotion"}
    )
    gender = models.ForeignKey(
        LabelOption, on_delete=models.PROTECT, related_name="+", limit_choices_to={"kind": "gender"}
    )
    time_spent_ms = models.PositiveIntegerField(default=0)
    comment = models.TextField(blank=True)
    assignment = models.OneToOneField(Assignment, null=True, blank=True, on_delete=models.SET_NULL)
    # What the pre-labeller suggested on screen, if anything (kept to measure anchoring).
    shown_prediction = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["clip", "annotator"], name="one_annotation_per_annotator")
        ]
        indexes = [models.Index(fields=["annotator", "created_at"], name="annotation_by_annotator")]

    def __str__(self) -> str:
        return f"clip #{self.clip_id}: {self.emotion_id}/{self.gender_id} by {self.annotator_id}"


class Flag(models.Model):
    """An annotator sends a clip back to validation (e.g. two speakers after all)."""

    clip = models.ForeignKey(Clip, on_delete=models.PROTECT, related_name="flags")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    reason = models.ForeignKey(RejectionReason, null=True, blank=True, on_delete=models.PROTECT)
    comment = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    # --- consensus, gold labels, adjudication ------------------------------------------------------

    def __str__(self) -> str:
        return f"clip #{self.clip_id} flagged by {self.user_id}"


def agreement_label(*, status: str, n_agree: int, n_votes: int, min_votes: int) -> str:
    """How a clip's consensus reads in tables and exports: "3/3", "2/3", "none", "gold",
    "adjudicated", "discarded" or "pending" (escalated, more labels wanted).

    Args:
        status: a ClipConsensus.Status value.
        n_agree: votes for the winning emotion.
        n_votes: labels the clip has.
        min_votes: the project's `consensus_min_votes` (a winner below it is no consensus).
    """
    if status in (
        ClipConsensus.Status.PENDING,
        ClipConsensus.Status.GOLD,
        ClipConsensus.Status.ADJUDICATED,
        ClipConsensus.Status.DISCARDED,
    ):
        return str(status)
    return f"{n_agree}/{n_votes}" if n_agree >= max(min_votes, 1) and n_votes else "none"


class ClipConsensusQuerySet(models.QuerySet):
    def usable(self, **kwargs) -> ClipConsensusQuerySet:
        """Consensus that may serve as a clip's label (see `ClipConsensus.usable_q`)."""
        return self.filter(ClipConsensus.usable_q(**kwargs))


class ClipConsensus(models.Model):
    """What a clip's labels agree on. Computed when its K-th label arrives and again at every
    later label (escalation); "pending" while more labels are wanted. Raw labels stay."""

    class Status(models.TextChoices):
        # Escalated clip still being labelled: not final, never adjudicated nor released.
        PENDING = "pending", "Escalated: awaiting more labels"
        AGREED = "agreed", "Agreed (majority)"
        NEEDS_ADJUDICATION = "needs_adjudication", "No majority: awaiting a curator"
        ADJUDICATED = "adjudicated", "Decided by a curator"
        DISCARDED = "discarded", "Discarded by a curator"
        GOLD = "gold", "Gold label from an imported corpus"

    clip = models.OneToOneField(Clip, on_delete=models.CASCADE, related_name="consensus")
    method = models.CharField(max_length=20, default="majority")
    status = models.CharField(max_length=20, choices=Status.choices, db_index=True)
    emotion = models.ForeignKey(
        LabelOption, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    gender = models.ForeignKey(LabelOption, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    n_votes = models.PositiveSmallIntegerField(default=0)
    n_agree = models.PositiveSmallIntegerField(default=0, help_text="Votes for the winning emotion.")
    # Soft labels: share of votes (majority) or posterior (Dawid-Skene) per emotion code.
    distribution = models.JSONField(default=dict)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ClipConsensusQuerySet.as_manager()

    class Meta:
        verbose_name = "clip consensus"
        verbose_name_plural = "clip consensuses"
        indexes = [models.Index(fields=["status", "n_agree"], name="consensus_status_agree")]

    def __str__(self) -> str:
        return f"clip #{self.clip_id}: {self.status} ({self.n_agree}/{self.n_votes})"

    @classmethod
    def usable_q(
        cls,
        *,
        prefix: str = "",
        min_agreement: int | None = None,
        adjudicated: bool = True,
        gold: bool = True,
    ) -> models.Q:
        """The one rule of which consensus may serve as a clip's label.

        Agreed (with at least `min_agreement` votes for the winner, if given), adjudicated by a
        curator (unless `adjudicated=False`) and gold from an imported corpus (unless
        `gold=False`). Never "needs adjudication" or "discarded".

        Args:
            prefix: the path from the queried model to the consensus, e.g. "clip__consensus__".
        Returns:
            A Q object.
        """
        agreed = models.Q(**{f"{prefix}status": cls.Status.AGREED})
        if min_agreement is not None:
            agreed &= models.Q(**{f"{prefix}n_agree__gte": min_agreement})
        q = agreed
        if adjudicated:
            q |= models.Q(**{f"{prefix}status": cls.Status.ADJUDICATED})
        if gold:
            q |= models.Q(**{f"{prefix}status": cls.Status.GOLD})
        return q

    def agreement_for(self, min_votes: int) -> str:
        """This clip's agreement as it reads in tables ("2/3", "none", "gold"...)."""
        return agreement_label(
            status=self.status, n_agree=self.n_agree, n_votes=self.n_votes, min_votes=min_votes
        )

    @property
    def agreement(self) -> str:
        """This clip's agreement under its project's `consensus_min_votes` (one query)."""
        config = AnnotationConfig.objects.filter(project__sources__recordings__clips=self.clip_id).first()
        return self.agreement_for(config.consensus_min_votes if config else 2)


class Adjudication(models.Model):
    class Decision(models.TextChoices):
        LABEL = "label", "Labelled by the curator"
        SEND_BACK = "send_back", "Sent back to validation"
        DISCARD = "discard", "Discarded"

    clip = models.ForeignKey(Clip, on_delete=models.PROTECT, related_name="adjudications")
    curator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    decision = models.CharField(max_length=12, choices=Decision.choices)
    emotion = models.ForeignKey(
        LabelOption, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    gender = models.ForeignKey(LabelOption, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    note = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"clip #{self.clip_id}: {self.decision}"


# --- hidden gold checks and annotator standing ----------------------------------------------------


class GoldCheck(models.Model):
    """A reference clip a curator marked as a hidden check: handed out among ordinary clips, its
    answers measure each annotator's accuracy (`annotation.crowd.check_record`).

    Candidates are clips with a usable consensus (agreed, adjudicated, or gold from an imported
    corpus). Unmarking sets `active` False: answers already given keep their check.
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    clip = models.OneToOneField(Clip, on_delete=models.PROTECT, related_name="gold_check")
    emotion = models.ForeignKey(
        LabelOption, on_delete=models.PROTECT, related_name="+", limit_choices_to={"kind": "emotion"}
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    active = models.BooleanField(default=True)

    class Meta:
        indexes = [
            # assignment_next: the active checks of a project.
            models.Index(fields=["project", "active"], name="gold_check_active"),
        ]

    def __str__(self) -> str:
        return f"check: clip #{self.clip_id} = {self.emotion_id}"


class CheckAnswer(models.Model):
    """One annotator's answer to a hidden check. Stored apart from labels: never an Annotation,
    so never in consensus, agreement, pool counters or exports."""

    assignment = models.OneToOneField(Assignment, on_delete=models.PROTECT, related_name="check_answer")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="check_answers")
    gold_check = models.ForeignKey(GoldCheck, on_delete=models.PROTECT, related_name="answers")
    clip = models.ForeignKey(Clip, on_delete=models.PROTECT, related_name="+")
    emotion = models.ForeignKey(LabelOption, on_delete=models.PROTECT, related_name="+")
    gender = models.ForeignKey(LabelOption, on_delete=models.PROTECT, related_name="+")
    correct = models.BooleanField()
    time_spent_ms = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["gold_check", "user"], name="one_answer_per_check")]
        indexes = [models.Index(fields=["user", "created_at"], name="check_answer_by_user")]

    def __str__(self) -> str:
        return f"check #{self.gold_check_id} by {self.user_id}: {'right' if self.correct else 'wrong'}"


class AnnotatorStanding(models.Model):
    """An annotator's standing in a project: paused by their check answers until a curator
    reviews them, and/or excluded (their labels kept but not counted by consensus or agreement,
    `consensus.counted_annotations`). `reviewed_by`/`reviewed_at` record the last curator action
    (resume, exclude, include), `action` which one."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="standings")
    paused = models.BooleanField(default=False)
    paused_at = models.DateTimeField(null=True, blank=True)
    excluded = models.BooleanField(default=False)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)
    action = models.CharField(max_length=10, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "user"], name="one_standing_per_user")]

    def __str__(self) -> str:
        state = "excluded" if self.excluded else "paused" if self.paused else "active"
        return f"{self.user_id} in {self.project_id}: {state}"
