"""Consensus of the K labels, adjudication of ties, and the corpus agreement figures.

The raw labels (Annotation rows) are never changed: consensus is derived from them, so soft
labels can always be exported and the rule can be changed and recomputed.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import QuerySet

from annotation import agreement
from annotation.models import (
    Adjudication,
    Annotation,
    AnnotationConfig,
    ClipConsensus,
    LabelOption,
)
from corpus import roles
from corpus.models import Clip, Project


class ConsensusError(Exception):
    def __init__(self, message: str, *, status: int = 400):
        super().__init__(message)
        self.message = message
        self.status = status


def _config(project_id: int) -> AnnotationConfig:
    config, _ = AnnotationConfig.objects.get_or_create(project_id=project_id)
    return config


def _winner(counter: Counter, min_votes: int):
    ranked = counter.most_common()
    if not ranked or ranked[0][1] < min_votes or (len(ranked) > 1 and ranked[1][1] == ranked[0][1]):
        return None, ranked[0][1] if ranked else 0
    return ranked[0][0], ranked[0][1]


def consensus_compute(*, clip_id: int) -> ClipConsensus:
    """Majority consensus of one clip (called in the transaction that adds its K-th label)."""
    clip = Clip.objects.select_related("recording__source").get(pk=clip_id)
    config = _config(clip.recording.source.project_id)
    labels = list(Annotation.objects.filter(clip_id=clip_id).values_list("emotion_id", "gender_id"))
    emotions = Counter(e for e, _ in labels)
    genders = Counter(g for _, g in labels)
    emotion_id, n_agree = _winner(emotions, config.consensus_min_votes)
    gender_id, _ = _winner(genders, (len(labels) // 2) + 1)
    codes = dict(LabelOption.objects.filter(pk__in=emotions).values_list("pk", "code"))
    consensus, _ = ClipConsensus.objects.update_or_create(
        clip_id=clip_id,
        defaults={
            "method": "majority",
            "status": ClipConsensus.Status.AGREED if emotion_id else ClipConsensus.Status.NEEDS_ADJUDICATION,
            "emotion_id": emotion_id,
            "gender_id": gender_id,
            "n_votes": len(labels),
            "n_agree": n_agree,
            "distribution": {codes[e]: round(n / len(labels), 4) for e, n in sorted(emotions.items())},
        },
    )
    return consensus


def project_votes(project: Project, clips: QuerySet | None = None):
    """All labels of a project as agreement.Votes (+ the dense index -> clip id / user id maps)."""
    annotations = Annotation.objects.filter(clip__recording__source__project=project)
    if clips is not None:
        annotations = annotations.filter(clip__in=clips)
    codes = list(LabelOption.objects.filter(kind="emotion", active=True).order_by("order").values_list("code", flat=True))
    by_pk = dict(LabelOption.objects.filter(kind="emotion").values_list("pk", "code"))
    triples = ((c, a, by_pk[e]) for c, a, e in annotations.values_list("clip_id", "annotator_id", "emotion_id").iterator(chunk_size=20000))
    votes, clip_ids, user_ids = agreement.Votes.from_triples(triples, codes)
    return votes, clip_ids, user_ids, codes


def consensus_recompute(*, project: Project, method: str | None = None) -> dict:
    """Recompute every labelled clip's consensus with the project's method (or `method`).

    Dawid-Skene weighs each annotator by an estimated confusion matrix and gives each clip a
    posterior; a clip whose top posterior is under 0.5 goes to adjudication. Curator decisions
    (adjudicated, discarded) and gold labels are never overwritten.
    """
    config = _config(project.pk)
    method = method or config.consensus_method
    if method not in ("majority", "dawid_skene"):
        raise ConsensusError(f"Unknown consensus method '{method}'.")
    votes, clip_ids, user_ids, codes = project_votes(project)
    if votes.n_items == 0:
        return {"method": method, "clips": 0}
    counts = votes.counts()
    opts = {o.code: o.pk for o in LabelOption.objects.filter(kind="emotion")}
    if method == "dawid_skene":
        result = agreement.dawid_skene(votes)
        distribution = result.posteriors
        winners = np.where(result.posteriors.max(axis=1) >= 0.5, result.labels, -1)
    else:
        winners, _ = agreement.majority(votes, min_votes=config.consensus_min_votes)
        distribution = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    kept = set(
        ClipConsensus.objects.filter(
            clip_id__in=clip_ids,
            status__in=[ClipConsensus.Status.ADJUDICATED, ClipConsensus.Status.DISCARDED, ClipConsensus.Status.GOLD],
        ).values_list("clip_id", flat=True)
    )
    genders = _gender_majorities(clip_ids)
    existing = {c.clip_id: c for c in ClipConsensus.objects.filter(clip_id__in=clip_ids)}
    to_create, to_update = [], []
    for i, clip_id in enumerate(clip_ids):
        if clip_id in kept:
            continue
        w = int(winners[i])
        fields = {
            "method": method,
            "status": ClipConsensus.Status.AGREED if w >= 0 else ClipConsensus.Status.NEEDS_ADJUDICATION,
            "emotion_id": opts[codes[w]] if w >= 0 else None,
            "gender_id": genders.get(clip_id),
            "n_votes": int(counts[i].sum()),
            "n_agree": int(counts[i].max()),
            "distribution": {codes[j]: round(float(distribution[i, j]), 4) for j in np.flatnonzero(distribution[i] > 0)},
        }
        row = existing.get(clip_id)
        if row is None:
            to_create.append(ClipConsensus(clip_id=clip_id, **fields))
        else:
            for k, v in fields.items():
                setattr(row, k, v)
            to_update.append(row)
    with transaction.atomic():
        ClipConsensus.objects.bulk_create(to_create, batch_size=2000)
        ClipConsensus.objects.bulk_update(to_update, list(fields), batch_size=2000) if to_update else None
    return {"method": method, "clips": len(clip_ids), "needs_adjudication": int((winners < 0).sum())}


def _gender_majorities(clip_ids: list[int]) -> dict[int, int | None]:
    per_clip: dict[int, Counter] = {}
    for clip_id, gender_id in Annotation.objects.filter(clip_id__in=clip_ids).values_list("clip_id", "gender_id").iterator(chunk_size=20000):
        per_clip.setdefault(clip_id, Counter())[gender_id] += 1
    out = {}
    for clip_id, counter in per_clip.items():
        winner, _ = _winner(counter, sum(counter.values()) // 2 + 1)
        out[clip_id] = winner
    return out


def adjudication_queue(*, project: Project, curator) -> QuerySet[ClipConsensus]:
    """Clips with no majority that this curator did not label (a curator never judges their own)."""
    return (
        ClipConsensus.objects.filter(
            status=ClipConsensus.Status.NEEDS_ADJUDICATION, clip__recording__source__project=project
        )
        .exclude(clip__annotations__annotator=curator)
        .select_related("clip")
        .order_by("clip_id")
    )


def adjudicate(
    *, curator, clip_id: int, decision: str, emotion: str | None = None, gender: str | None = None, note: str = ""
) -> Adjudication:
    """A curator who did not label the clip decides its label, sends it back, or discards it."""
    if not roles.user_has_role(curator, roles.CURATOR):
        raise PermissionDenied("Only curators adjudicate.")
    if decision not in Adjudication.Decision.values:
        raise ConsensusError(f"Unknown decision '{decision}': use label, send_back or discard.")
    with transaction.atomic():
        consensus = ClipConsensus.objects.select_for_update().filter(clip_id=clip_id).first()
        if consensus is None or consensus.status != ClipConsensus.Status.NEEDS_ADJUDICATION:
            raise ConsensusError("This clip is not awaiting adjudication.", status=409)
        if Annotation.objects.filter(clip_id=clip_id, annotator=curator).exists():
            raise ConsensusError("You labelled this clip: another curator must adjudicate it.", status=403)
        emotion_opt = gender_opt = None
        if decision == Adjudication.Decision.LABEL:
            emotion_opt = LabelOption.objects.filter(kind="emotion", code=emotion, active=True).first()
            if emotion_opt is None:
                raise ConsensusError(f"Unknown emotion '{emotion}'.")
            gender_opt = LabelOption.objects.filter(kind="gender", code=gender, active=True).first() if gender else None
            if gender and gender_opt is None:
                raise ConsensusError(f"Unknown gender '{gender}'.")
        adjudication = Adjudication.objects.create(
            clip_id=clip_id, curator=curator, decision=decision, emotion=emotion_opt, gender=gender_opt, note=note
        )
        if decision == Adjudication.Decision.LABEL:
            consensus.status = ClipConsensus.Status.ADJUDICATED
            consensus.emotion = emotion_opt
            consensus.gender = gender_opt or consensus.gender
            consensus.save(update_fields=["status", "emotion", "gender", "updated_at"])
        elif decision == Adjudication.Decision.DISCARD:
            consensus.status = ClipConsensus.Status.DISCARDED
            consensus.save(update_fields=["status", "updated_at"])
            Clip.objects.filter(pk=clip_id).update(status=Clip.Status.EXCLUDED)
        else:
            from annotation.services import clip_return_to_validation

            consensus.delete()
            clip_return_to_validation(clip_id=clip_id)
    return adjudication
