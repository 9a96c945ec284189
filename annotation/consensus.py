"""Consensus of the K labels, adjudication of ties, and the corpus agreement figures.

The raw labels (Annotation rows) are never changed: consensus is derived from them, so soft
labels can always be exported and the rule can be changed and recomputed.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
from django.db import connection, transaction
from django.db.models import Exists, OuterRef, QuerySet
from django.utils import timezone

from annotation import agreement, policies
from annotation.models import (
    Adjudication,
    Annotation,
    AnnotationConfig,
    AnnotatorStanding,
    ClipConsensus,
    LabelOption,
)
from core import roles
from core.access import require_role
from core.bulk import fast_insert, fast_update
from core.errors import ApplicationError
from core.models import Project
from corpus.models import Clip


def _config(project_id: int) -> AnnotationConfig:
    config, _ = AnnotationConfig.objects.get_or_create(project_id=project_id)
    return config


def counted_annotations(*, project: Project | None = None) -> QuerySet[Annotation]:
    """The labels that count: every Annotation but those of annotators a curator excluded in the
    clip's project (AnnotatorStanding.excluded). The one queryset that consensus
    (`consensus_compute`, `consensus_recompute`), agreement figures, Dawid-Skene and the
    releases' vote counts read; excluded rows are kept, so re-including restores them.

    Args:
        project: restrict to this project's clips, or None for all projects.
    Returns:
        An Annotation queryset (unordered).
    """
    excluded = AnnotatorStanding.objects.filter(
        excluded=True, project_id=OuterRef("clip__recording__project_id"), user_id=OuterRef("annotator_id")
    )
    annotations = Annotation.objects.all()
    if project is not None:
        annotations = annotations.filter(clip__recording__source__project=project)
    return annotations.filter(~Exists(excluded))


def _winner(counter: Counter, min_votes: int):
    """The winning key of `counter` under `agreement.majority_counts`, or None; and its votes."""
    keys = list(counter)
    if not keys:
        return None, 0
    winner, top = agreement.majority_counts(np.array([[counter[k] for k in keys]]), min_votes)
    return (keys[int(winner[0])] if winner[0] >= 0 else None), int(top[0])


def consensus_compute(*, clip_id: int, final: bool = True) -> ClipConsensus:
    """Majority consensus of one clip over all its labels (called in the transaction that adds
    its K-th label, and every later one while the clip is escalated).

    Emotion: `agreement.majority_counts` with the project's `consensus_min_votes` (a tie or too
    few votes: needs adjudication). Gender: a strict majority of the clip's labels, else None.
    The soft label `distribution` is each emotion code's share of the votes (4 places). The
    clip's ClipConsensus row is created or overwritten with method "majority".

    Args:
        clip_id: the clip.
        final: False while the clip waits for more labels (escalation): the row is written with
            status "pending" (never adjudicated nor released) and the current winner, if any.
    Returns:
        The ClipConsensus (status agreed or needs_adjudication; pending when not `final`).
    Raises:
        Clip.DoesNotExist: no such clip.
    """
    clip = Clip.objects.select_related("recording__source").get(pk=clip_id)
    config = _config(clip.recording.source.project_id)
    labels = list(counted_annotations().filter(clip_id=clip_id).values_list("emotion_id", "gender_id"))
    emotions = Counter(e for e, _ in labels)
    genders = Counter(g for _, g in labels)
    emotion_id, n_agree = _winner(emotions, config.consensus_min_votes)
    gender_id, _ = _winner(genders, (len(labels) // 2) + 1)
    codes = dict(LabelOption.objects.filter(pk__in=emotions).values_list("pk", "code"))
    consensus, _ = ClipConsensus.objects.update_or_create(
        clip_id=clip_id,
        defaults={
            "method": "majority",
            "status": (
                ClipConsensus.Status.PENDING
                if not final
                else ClipConsensus.Status.AGREED
                if emotion_id
                else ClipConsensus.Status.NEEDS_ADJUDICATION
            ),
            "emotion_id": emotion_id,
            "gender_id": gender_id,
            "n_votes": len(labels),
            "n_agree": n_agree,
            "distribution": {codes[e]: round(n / len(labels), 4) for e, n in sorted(emotions.items())},
        },
    )
    return consensus


def consensus_set_gold(*, clip_id: int, emotion: LabelOption, gender: LabelOption | None) -> ClipConsensus:
    """Record the consensus of a clip whose label came with an imported corpus (gold).

    Gold consensus is never overwritten by `consensus_recompute`; its distribution puts all the
    mass on the gold emotion. Call it inside the transaction that creates the clip.

    Args:
        clip_id: the clip.
        emotion: the mapped emotion (a LabelOption of kind emotion).
        gender: the speaker's gender, if the corpus gives it.
    Returns:
        The clip's ClipConsensus (created or replaced).
    """
    consensus, _ = ClipConsensus.objects.update_or_create(
        clip_id=clip_id,
        defaults={
            "method": "gold",
            "status": ClipConsensus.Status.GOLD,
            "emotion": emotion,
            "gender": gender,
            "n_votes": 0,
            "n_agree": 0,
            "distribution": {emotion.code: 1.0},
        },
    )
    return consensus


def project_votes(project: Project, clips: QuerySet | None = None):
    """All labels of a project as agreement.Votes (+ the dense index -> clip id / user id maps).

    Args:
        project: the project.
        clips: a Clip queryset to restrict the labels to, or None for all.
    Returns:
        (votes, clip_ids, user_ids, codes): the emotion votes, in the order they were given
        (Annotation id); the clip id and annotator id of each dense item and rater index (order
        of first appearance); the active emotion codes
        ordered by LabelOption.order (category index = position).
    Raises:
        ValueError: a label whose emotion is no longer active (`Votes.from_triples`).
    """
    # In the order the labels were given (creation order), so `agreement.first_votes` keeps
    # each clip's first K; only the labels that count (excluded annotators' are kept but not read).
    annotations = counted_annotations(project=project).order_by("pk")
    if clips is not None:
        annotations = annotations.filter(clip__in=clips)
    codes = list(
        LabelOption.objects.filter(kind="emotion", active=True)
        .order_by("order")
        .values_list("code", flat=True)
    )
    by_pk = dict(LabelOption.objects.filter(kind="emotion").values_list("pk", "code"))
    triples = (
        (c, a, by_pk[e])
        for c, a, e in annotations.values_list("clip_id", "annotator_id", "emotion_id").iterator(
            chunk_size=20000
        )
    )
    votes, clip_ids, user_ids = agreement.Votes.from_triples(triples, codes)
    return votes, clip_ids, user_ids, codes


def consensus_recompute(*, project: Project, method: str | None = None) -> dict:
    """Recompute every labelled clip's consensus with the project's method (or `method`).

    Dawid-Skene weighs each annotator by an estimated confusion matrix and gives each clip a
    posterior; a clip whose top posterior is under 0.5 goes to adjudication. Curator decisions
    (adjudicated, discarded) and gold labels are never overwritten. Clips still being labelled
    (accepted, or sent back to validation) get status "pending": never adjudicated nor released
    before their labelling ends.

    0. Re-evaluate the labelling pool under the current K, maximum and escalation rule
       (`services.pool_reevaluate`: reopens or closes entries, e.g. after the settings changed).
    1. Read every label of the project as `agreement.Votes` (`project_votes`).
    2. Emotion: majority (`agreement.majority`, `consensus_min_votes`; distribution = vote
       shares) or Dawid & Skene (1979) EM (`agreement.dawid_skene`; distribution = posteriors).
       Gender: a strict majority per clip, else None.
    3. Write every clip's row in one transaction (`core.bulk` inserts and updates), skipping
       adjudicated, discarded and gold ones.

    Checks no role (the API and admin callers do).

    Args:
        project: the project.
        method: "majority" or "dawid_skene"; None: AnnotationConfig.consensus_method.
    Returns:
        {"method", "clips": labelled clips considered, "needs_adjudication": labelled clips
        without a winner (protected ones included), "pool": `pool_reevaluate`'s counts};
        {"method", "clips": 0, "pool"} when nothing is labelled.
    Raises:
        ApplicationError 400 (`invalid`): an unknown method.
        ValueError: a label whose emotion is no longer active (`project_votes`).
    """
    config = _config(project.pk)
    method = method or config.consensus_method
    if method not in ("majority", "dawid_skene"):
        raise ApplicationError(f"Unknown consensus method '{method}'.")
    from annotation.services import pool_reevaluate

    pool = pool_reevaluate(project=project)
    votes, clip_ids, user_ids, codes = project_votes(project)
    if votes.n_items == 0:
        return {"method": method, "clips": 0, "pool": pool}
    counts = votes.counts()
    opts = {o.code: o.pk for o in LabelOption.objects.filter(kind="emotion")}
    if method == "dawid_skene":
        result = agreement.dawid_skene(votes)
        distribution = result.posteriors
        winners = np.where(result.posteriors.max(axis=1) >= 0.5, result.labels, -1)
    else:
        winners, _ = agreement.majority(votes, min_votes=config.consensus_min_votes)
        distribution = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    protected = (ClipConsensus.Status.ADJUDICATED, ClipConsensus.Status.DISCARDED, ClipConsensus.Status.GOLD)
    existing = {}
    for clip_id, status in (
        ClipConsensus.objects.filter(clip__recording__source__project=project)
        .values_list("clip_id", "status")
        .iterator(chunk_size=20000)
    ):
        existing[clip_id] = status
    in_labelling = set(
        Clip.objects.filter(
            recording__source__project=project,
            status__in=[Clip.Status.ACCEPTED, Clip.Status.AWAITING_VALIDATION],
        ).values_list("pk", flat=True)
    )
    genders = _gender_majorities(project)
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    fields = ["method", "status", "emotion", "gender", "n_votes", "n_agree", "distribution", "updated_at"]
    inserts, updates = [], []
    n_votes, n_agree = counts.sum(axis=1), counts.max(axis=1)
    for i, clip_id in enumerate(clip_ids):
        if existing.get(clip_id) in protected:
            continue
        w = int(winners[i])
        dist = {codes[j]: round(float(distribution[i, j]), 4) for j in np.flatnonzero(distribution[i] > 0)}
        if clip_id in in_labelling:
            status = ClipConsensus.Status.PENDING
        else:
            status = ClipConsensus.Status.AGREED if w >= 0 else ClipConsensus.Status.NEEDS_ADJUDICATION
        values = (
            method,
            status,
            opts[codes[w]] if w >= 0 else None,
            genders.get(clip_id),
            int(n_votes[i]),
            int(n_agree[i]),
            connection.ops.adapt_json_value(dist, None),
            now,
        )
        if clip_id in existing:
            updates.append((*values, clip_id))
        else:
            inserts.append((clip_id, *values))
    with transaction.atomic():
        fast_insert(ClipConsensus, ["clip", *fields], inserts)
        fast_update(ClipConsensus, "clip", fields, updates)
    final = np.array([c not in in_labelling for c in clip_ids], dtype=bool)
    return {
        "method": method,
        "clips": int(final.sum()),
        "needs_adjudication": int(((winners < 0) & final).sum()),
        "pool": pool,
    }


def _gender_majorities(project: Project) -> dict[int, int | None]:
    """Per clip, the gender more than half of its annotators gave (None otherwise)."""
    rows = np.array(
        list(counted_annotations(project=project).values_list("clip_id", "gender_id")),
        dtype=np.int64,
    ).reshape(-1, 2)
    if not len(rows):
        return {}
    clips, clip_index = np.unique(rows[:, 0], return_inverse=True)
    genders, gender_index = np.unique(rows[:, 1], return_inverse=True)
    counts = np.zeros((len(clips), len(genders)), dtype=np.int64)
    np.add.at(counts, (clip_index, gender_index), 1)
    winner, _ = agreement.majority_counts(counts, counts.sum(axis=1) // 2 + 1)
    return {int(c): (int(genders[w]) if w >= 0 else None) for c, w in zip(clips, winner, strict=True)}


def adjudication_queue(*, project: Project, curator) -> QuerySet[ClipConsensus]:
    """Clips with no majority that this curator did not label (a curator never judges their own).

    Args:
        project: the project.
        curator: the curator who will adjudicate.
    Returns:
        A queryset of ClipConsensus with status needs_adjudication, `clip` selected, ordered by
        clip id.
    """
    return (
        ClipConsensus.objects.filter(
            status=ClipConsensus.Status.NEEDS_ADJUDICATION, clip__recording__source__project=project
        )
        .exclude(clip__annotations__annotator=curator)
        .select_related("clip")
        .order_by("clip_id")
    )


def adjudicate(
    *,
    curator,
    clip_id: int,
    decision: str,
    emotion: str | None = None,
    gender: str | None = None,
    note: str = "",
) -> Adjudication:
    """A curator who did not label the clip decides its label, sends it back, or discards it.

    label: the consensus becomes adjudicated with the curator's emotion (and gender, if given;
    else the majority's stays). discard: the consensus becomes discarded and the clip excluded.
    send_back: the consensus row is deleted and the clip returns to validation
    (`services.clip_return_to_validation`). The Adjudication row records the decision either way.
    Project membership is the caller's check (the API resolves the clip with `clip_for_user`).

    Args:
        curator: the deciding curator.
        clip_id: the clip.
        decision: "label", "send_back" or "discard" (Adjudication.Decision).
        emotion: an active emotion code; required for "label", ignored otherwise.
        gender: an active gender code, optional, for "label".
        note: why, recorded on the Adjudication.
    Returns:
        The new Adjudication.
    Raises:
        ApplicationError 403 (`forbidden`): not a curator.
        ApplicationError 400 (`invalid`): an unknown decision, emotion or gender.
        ApplicationError 409 (`invalid`): the clip is not awaiting adjudication.
        ApplicationError 403 (`invalid`): the curator labelled this clip.
    """
    require_role(curator, roles.CURATOR)
    if decision not in Adjudication.Decision.values:
        raise ApplicationError(f"Unknown decision '{decision}': use label, send_back or discard.")
    with transaction.atomic():
        consensus = ClipConsensus.objects.select_for_update().filter(clip_id=clip_id).first()
        if consensus is None or consensus.status != ClipConsensus.Status.NEEDS_ADJUDICATION:
            raise ApplicationError("This clip is not awaiting adjudication.", status=409)
        if Annotation.objects.filter(clip_id=clip_id, annotator=curator).exists():
            raise ApplicationError("You labelled this clip: another curator must adjudicate it.", status=403)
        emotion_opt = gender_opt = None
        if decision == Adjudication.Decision.LABEL:
            emotion_opt = LabelOption.objects.filter(kind="emotion", code=emotion, active=True).first()
            if emotion_opt is None:
                raise ApplicationError(f"Unknown emotion '{emotion}'.")
            gender_opt = (
                LabelOption.objects.filter(kind="gender", code=gender, active=True).first()
                if gender
                else None
            )
            if gender and gender_opt is None:
                raise ApplicationError(f"Unknown gender '{gender}'.")
        adjudication = Adjudication.objects.create(
            clip_id=clip_id,
            curator=curator,
            decision=decision,
            emotion=emotion_opt,
            gender=gender_opt,
            note=note,
        )
        if decision == Adjudication.Decision.LABEL:
            consensus.status = ClipConsensus.Status.ADJUDICATED
            consensus.emotion = emotion_opt
            consensus.gender = gender_opt or consensus.gender
            consensus.save(update_fields=["status", "emotion", "gender", "updated_at"])
            policies.consensus_changed(clip_id=clip_id)
        elif decision == Adjudication.Decision.DISCARD:
            consensus.status = ClipConsensus.Status.DISCARDED
            consensus.save(update_fields=["status", "updated_at"])
            Clip.objects.filter(pk=clip_id).update(status=Clip.Status.EXCLUDED)
        else:
            from annotation.services import clip_return_to_validation

            consensus.delete()
            clip_return_to_validation(clip_id=clip_id)
    return adjudication
