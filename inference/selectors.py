"""Reads of inference that span relations, and per-user visibility."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np
from django.db.models import QuerySet

from annotation import crowd
from annotation import selectors as annotation_selectors
from annotation.models import AnnotationConfig, Assignment, LabelOption, PoolEntry, QueuePick, QuotaTarget
from core.access import projects_for_user
from core.models import Project
from corpus.models import Clip
from inference.models import Prediction, Prelabeller


def prelabellers_for_user(user) -> QuerySet[Prelabeller]:
    """The active pre-labeller of each of the user's projects that has one.

    Args:
        user: the requesting user.
    Returns:
        A queryset of Prelabeller with `project` and `model_version` selected, by project name.
    """
    return (
        Prelabeller.objects.filter(project__in=projects_for_user(user))
        .select_related("project", "model_version")
        .order_by("project__name")
    )


def predictions_for_user(user) -> QuerySet[Prediction]:
    """Pre-labels of the clips of the user's projects, newest first (the caller checks the role).

    Args:
        user: the requesting user.
    Returns:
        A queryset of Prediction with `clip__recording__source` and `model_version` selected,
        ordered by -id.
    """
    return (
        Prediction.objects.filter(clip__recording__source__project__in=projects_for_user(user))
        .select_related("clip__recording__source", "model_version")
        .order_by("-id")
    )


# --- the quota-driven queue ---------------------------------------------------------------------


def clip_gender_probabilities(*, project: Project, clips: QuerySet[Clip]) -> dict[int, dict[str, float]]:
    """P(gender) of each clip from what is known of its voice.

    The voice of a clip is, in this order, its speaker cluster's series speaker (one voice across
    a series' episodes), its speaker cluster (one voice in one recording), or its `speaker` name
    (imported corpora name their actors). The first of these that has clips with a final
    consensus gender (`annotation.selectors.quota_final_clips`) gives P(g) = the share of
    those clips whose consensus gender is g. A clip whose voice is unknown gets the uniform
    distribution over the active gender options (0.5 each with two).

    Args:
        project: the project (only its final clips inform a voice).
        clips: the clips to estimate (a queryset: no id list, so no SQL variable limit).
    Returns:
        {clip id: {gender code: probability}}, each summing to 1 over the active genders.
    """
    genders = list(
        LabelOption.objects.filter(kind=LabelOption.Kind.GENDER, active=True).values_list("code", flat=True)
    )
    if not genders:
        return {}
    known: dict[tuple[str, object], Counter] = {}
    final = annotation_selectors.quota_final_clips(project=project).filter(gender__isnull=False)
    for series, cluster, speaker, gender in final.values_list(
        "clip__speaker_cluster__series_speaker_id",
        "clip__speaker_cluster_id",
        "clip__speaker",
        "gender__code",
    ).iterator(chunk_size=5000):
        for key in (("series", series), ("cluster", cluster), ("speaker", speaker)):
            if key[1]:
                known.setdefault(key, Counter())[gender] += 1
    uniform = {g: 1.0 / len(genders) for g in genders}
    out: dict[int, dict[str, float]] = {}
    for pk, series, cluster, speaker in clips.values_list(
        "pk", "speaker_cluster__series_speaker_id", "speaker_cluster_id", "speaker"
    ).iterator(chunk_size=5000):
        out[pk] = uniform
        for key in (("series", series), ("cluster", cluster), ("speaker", speaker)):
            votes = known.get(key) if key[1] else None
            total = sum(votes[g] for g in genders) if votes else 0
            if total:
                out[pk] = {g: votes[g] / total for g in genders}
                break
    return out


@dataclass
class CellProbabilities:
    """Cell probabilities of the predicted open clips: `matrix` (n_clips, n_cells) float64, row i
    for `clip_ids[i]`, column j for the j-th target; `top` the clip's top label;
    `gender` the clip's likeliest gender code, or None while it is unknown (uniform)."""

    clip_ids: list[int] = field(default_factory=list)
    matrix: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    top: list[str] = field(default_factory=list)
    gender: list[str | None] = field(default_factory=list)


def quota_cell_probabilities(
    *, project: Project, model_version_id: int, entries: QuerySet[PoolEntry], targets: list[QuotaTarget]
) -> CellProbabilities:
    """P(clip in cell) for each open clip the model has predicted, per quota cell.

    P(cell) = P(emotion) x P(gender): P(emotion) is the prediction's probability of the cell's
    emotion code (0 when the model does not know the label); P(gender) comes from
    `clip_gender_probabilities`, and is 1 for a cell of any gender.

    Args:
        project: the project.
        model_version_id: the pre-labeller's model version.
        entries: the open labelling PoolEntry queryset.
        targets: the project's QuotaTarget rows (columns, in this order).
    Returns:
        A CellProbabilities, clips in id order.
    """
    rows = list(
        Prediction.objects.filter(model_version_id=model_version_id, clip__pool_entries__in=entries)
        .order_by("clip_id")
        .values_list("clip_id", "probabilities", "top_label")
    )
    genders = clip_gender_probabilities(
        project=project, clips=Clip.objects.filter(pool_entries__in=entries).distinct()
    )
    matrix = np.zeros((len(rows), len(targets)))
    likeliest: list[str | None] = []
    for i, (clip_id, probabilities, _) in enumerate(rows):
        gp = genders.get(clip_id, {})
        best = max(gp.values(), default=0.0)
        ties = [g for g, p in gp.items() if p == best]
        likeliest.append(ties[0] if len(ties) == 1 else None)
        for j, t in enumerate(targets):
            p_emotion = float(probabilities.get(t.emotion.code, 0.0))
            matrix[i, j] = p_emotion * (gp.get(t.gender.code, 0.0) if t.gender_id else 1.0)
    return CellProbabilities(
        clip_ids=[r[0] for r in rows], matrix=matrix, top=[r[2] for r in rows], gender=likeliest
    )


def _accuracy(pairs: list[bool]) -> dict:
    return {"n": len(pairs), "accuracy": round(sum(pairs) / len(pairs), 4) if pairs else None}


def quota_figures(*, project: Project) -> dict:
    """What the Quotas page and API show.

    1. Per cell: the target, the clips counted so far (`annotation.selectors.quota_counts`),
       the deficit (`annotation.crowd.quota_deficits`), the progress (count / target, at most
       1; 1 for a target of 0), the accepted clips still being labelled (held ones included)
       that are predicted in the cell (`in_progress`: top label
       = the cell's emotion and, for a gendered cell, likeliest gender = the cell's; a voice of
       unknown gender counts in no gendered cell) and their expected number (`in_progress_expected`,
       the sum of the cell probabilities), and the share of its counted clips first handed
       out at random (`annotation.selectors.quota_first_picks`).
    2. The hand-outs: labelling assignments picked by rank and at random, and the random share.
    3. The model's bias: accuracy of the pre-labeller's top label against the final consensus
       emotion, on clips first picked at random vs by rank (None until such clips exist). The
       random picks are a uniform sample of the queue, so their accuracy estimates the model's
       accuracy on the pool; the ranked picks' is biased toward the classes the quota favours.

    Args:
        project: the project.
    Returns:
        {"policy", "quota_active" (the queue is ordered by quota), "fallback" (quota policy
        without a pre-labeller: breadth-first), "prelabeller" ({"id", "name"} or None),
        "random_share_setting", "picks": {"ranked", "random", "random_share"}, "cells": [{"id",
        "emotion", "emotion_name", "gender", "gender_name", "target", "count", "deficit",
        "progress", "in_progress", "in_progress_expected", "n_picked", "random_share"}],
        "bias": {"random": {"n", "accuracy"}, "ranked": {"n", "accuracy"}}}.
    """
    config, _ = AnnotationConfig.objects.get_or_create(project=project)
    pre = Prelabeller.objects.filter(project=project).select_related("model_version").first()
    targets = list(annotation_selectors.quota_targets(project=project))
    counts = annotation_selectors.quota_counts(project=project)
    deficits = crowd.quota_deficits({t.cell: t.target for t in targets}, counts)
    # In progress: accepted clips still being labelled (held ones included: not yet final).
    open_entries = PoolEntry.objects.filter(
        project=project, kind="labelling", clip__status=Clip.Status.ACCEPTED
    )
    probs = (
        quota_cell_probabilities(
            project=project, model_version_id=pre.model_version_id, entries=open_entries, targets=targets
        )
        if pre
        else CellProbabilities()
    )
    first_picks = annotation_selectors.quota_first_picks(project=project)
    final = list(
        annotation_selectors.quota_final_clips(project=project).values_list(
            "clip_id", "emotion__code", "gender__code"
        )
    )
    cells = []
    for j, t in enumerate(targets):
        emotion, gender = t.cell
        in_cell = [c for c, e, g in final if e == emotion and (gender is None or g == gender)]
        picked = [first_picks[c] for c in in_cell if c in first_picks]
        n_progress = sum(
            1
            for i in range(len(probs.clip_ids))
            if probs.top[i] == emotion and (gender is None or probs.gender[i] == gender)
        )
        count = counts.get(t.cell, 0)
        cells.append(
            {
                "id": t.pk,
                "emotion": emotion,
                "emotion_name": t.emotion.name,
                "gender": gender,
                "gender_name": t.gender.name if t.gender_id else "",
                "target": t.target,
                "count": count,
                "deficit": deficits[t.cell],
                "progress": round(min(count / t.target, 1.0), 4) if t.target else 1.0,
                "in_progress": n_progress,
                "in_progress_expected": round(float(probs.matrix[:, j].sum()), 1)
                if len(probs.clip_ids)
                else 0.0,
                "n_picked": len(picked),
                "random_share": round(picked.count(QueuePick.RANDOM) / len(picked), 4) if picked else None,
            }
        )
    pick_counts = Counter(
        Assignment.objects.filter(
            kind=Assignment.Kind.LABELLING,
            clip__recording__source__project=project,
            queue_pick__in=QueuePick.values,
        ).values_list("queue_pick", flat=True)
    )
    n_picks = pick_counts[QueuePick.RANKED] + pick_counts[QueuePick.RANDOM]
    bias = {QueuePick.RANDOM.value: _accuracy([]), QueuePick.RANKED.value: _accuracy([])}
    if pre is not None:
        truth = {c: e for c, e, _ in final}
        by_pick: dict[str, list[bool]] = {QueuePick.RANDOM: [], QueuePick.RANKED: []}
        rows = Prediction.objects.filter(
            model_version_id=pre.model_version_id,
            clip__consensus__in=annotation_selectors.quota_final_clips(project=project),
        ).values_list("clip_id", "top_label")
        for clip_id, top in rows.iterator(chunk_size=5000):
            pick = first_picks.get(clip_id)
            if pick in by_pick and clip_id in truth:
                by_pick[pick].append(top == truth[clip_id])
        bias = {str(k): _accuracy(v) for k, v in by_pick.items()}
    return {
        "policy": config.queue_policy,
        "quota_active": config.queue_policy == "quota" and pre is not None,
        "fallback": config.queue_policy == "quota" and pre is None,
        "prelabeller": {"id": pre.model_version_id, "name": pre.model_version.name} if pre else None,
        "random_share_setting": config.quota_random_share,
        "picks": {
            "ranked": pick_counts[QueuePick.RANKED],
            "random": pick_counts[QueuePick.RANDOM],
            "random_share": round(pick_counts[QueuePick.RANDOM] / n_picks, 4) if n_picks else None,
        },
        "cells": cells,
        "bias": bias,
    }
