"""Building a release: choose clips by consensus, balance, split without leakage, write the manifest.

A release is immutable and versioned. Its manifest (JSON lines, one per item, sorted) depends only
on the database content and the parameters: the same inputs and seed give a byte-identical
manifest, whose sha256 is the release's checksum.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections import Counter
from dataclasses import asdict, dataclass, field

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import Max

import tuniser
from annotation.consensus import counted_annotations
from annotation.models import (
    AnnotationConfig,
    ClipConsensus,
    LabelOption,
    PoolEntry,
    agreement_label,
)
from core.bulk import fast_insert
from core.models import Project
from corpus.models import Clip, voice_key
from releases.balance import STRATEGIES, balance, plan_oversampling
from releases.models import Release, ReleaseItem
from releases.splits import (
    Item,
    check_seed,
    fold_report,
    grouped_stratified_kfold,
    grouped_stratified_split,
    parse_ratios,
    split_report,
)

SPLIT_KINDS = ("holdout", "kfold")
GROUP_KEYS = ("speaker", "speaker_cluster", "recording", "episode", "series")
PRIMARY = ["happy", "sad", "angry", "neutral"]


@dataclass
class ReleaseParams:
    """Everything that builds a release (stored whole on it as `Release.params`).

    Attributes:
        name: the release name; each build of a name is its next version.
        label_set: emotion codes the release keeps (at least two, active).
        min_agreement: votes the consensus emotion needs (2: >= 2/3, 3: 3/3).
        include_adjudicated: admit curator-adjudicated clips.
        include_gold: admit gold labels of imported corpora.
        balancing: one of `balance.STRATEGIES`.
        cap: items per class for the "cap" strategy.
        split: train/validation/test percentages ("70/15/15", or "80/20"; `parse_ratios`); a
            "kfold" release ignores it.
        split_kind: "holdout" (one train/validation/test split, `split`) or "kfold" (k folds
            grouped by `group_by`, for cross-validated training runs; `folds`).
        folds: k of a "kfold" release, 2 .. the number of groups; 0 means leave-one-group-out
            (k = the number of groups: leave-one-speaker-out when grouped by speaker). Ignored
            by a holdout release.
        group_by: the leakage unit, one of GROUP_KEYS. "speaker": the clip's named speaker
            (imported corpora), else its recording. "speaker_cluster": the named speaker, else
            the voice found by the speaker step (its series speaker, which links one voice's
            clusters across a series' episodes, else its recording's cluster), else the
            recording: leak-free by voice for broadcast clips.
        seed: the seed of every random draw (a non-negative int).
        sources: Source ids to restrict to; empty for all.
    """

    name: str
    label_set: list[str] = field(default_factory=lambda: list(PRIMARY))
    min_agreement: int = 2  # votes for the consensus emotion: 2 (>= 2/3) or 3 (3/3)
    include_adjudicated: bool = True
    include_gold: bool = True
    balancing: str = "undersample"
    cap: int | None = None
    split: str = "70/15/15"
    split_kind: str = "holdout"
    folds: int = 5
    group_by: str = "speaker"
    seed: int = 0
    sources: list[int] = field(default_factory=list)

    def validate(self) -> tuple[float, float, float]:
        """Check every field at once; on success, drop repeated labels (first order kept).

        Returns:
            The split ratios as fractions (train, validation, test).
        Raises:
            ValidationError: {field: message} for each bad field (label_set, min_agreement,
                balancing, cap, group_by, split, split_kind, folds, seed; "oversample" with "kfold").
                Folds against the number of groups are checked later, by the split.
        """
        errors = {}
        known = set(LabelOption.objects.filter(kind="emotion", active=True).values_list("code", flat=True))
        if not self.label_set:
            errors["label_set"] = "Choose at least two labels."
        elif unknown := sorted(set(self.label_set) - known):
            errors["label_set"] = f"Unknown label(s): {', '.join(unknown)}."
        elif len(set(self.label_set)) < 2:
            errors["label_set"] = "A release needs at least two labels."
        if self.min_agreement < 1:
            errors["min_agreement"] = "The minimum agreement is a number of votes (2 for >= 2/3, 3 for 3/3)."
        if self.balancing not in STRATEGIES:
            errors["balancing"] = (
                f"Unknown balancing '{self.balancing}'. Choose from: {', '.join(STRATEGIES)}."
            )
        elif self.balancing == "cap" and (not self.cap or self.cap < 1):
            errors["cap"] = "The 'cap' balancing needs a cap of at least 1 clip per class."
        if self.group_by not in GROUP_KEYS:
            errors["group_by"] = f"Group by one of: {', '.join(GROUP_KEYS)}."
        if self.split_kind not in SPLIT_KINDS:
            errors["split_kind"] = (
                f"Unknown split kind '{self.split_kind}'. Choose from: {', '.join(SPLIT_KINDS)}."
            )
        elif self.split_kind == "kfold":
            if (
                isinstance(self.folds, bool)
                or not isinstance(self.folds, int)
                or self.folds == 1
                or self.folds < 0
            ):
                errors["folds"] = (
                    "Folds must be 0 (leave one group out: one fold per speaker) or a whole number "
                    "of at least 2."
                )
            if self.balancing == "oversample":
                errors["balancing"] = (
                    "Oversampling makes augmented copies of training clips, and a k-fold release has "
                    "no fixed training split: choose another balancing."
                )
        try:
            check_seed(self.seed)
            if self.seed >= 2**32:
                raise ValueError(f"The seed must be below 2**32 (numpy's limit), not {self.seed}.")
        except ValueError as exc:
            errors["seed"] = str(exc)
        ratios = None
        try:
            ratios = parse_ratios(self.split)
        except ValueError as exc:
            errors["split"] = str(exc)
        if errors:
            raise ValidationError(errors)
        self.label_set = sorted(set(self.label_set), key=self.label_set.index)
        return ratios


@dataclass(frozen=True)
class Candidate:
    """One clip that may enter a release: its usable consensus and provenance, as plain values.

    `label` and `gender` are codes ("" for no gender), `status` the consensus status,
    `distribution` its soft label, `duration` in seconds, `title`/`episode` the source's.
    """

    clip_id: int
    label: str
    gender: str
    status: str
    n_votes: int
    n_agree: int
    distribution: dict
    speaker: str
    duration: float
    recording_id: int
    title: str
    episode: str
    cluster: int | None = None  # the clip's SpeakerCluster, if the speaker step found one
    voice: int | None = None  # that cluster's SeriesSpeaker
    cluster_label: str = ""
    voice_name: str = ""

    min_votes: int = 2  # the project's consensus_min_votes

    @property
    def agreement(self) -> str:
        """The agreement as tables read it ("2/3", "3/3", "gold", "adjudicated"...)."""
        return agreement_label(
            status=self.status, n_agree=self.n_agree, n_votes=self.n_votes, min_votes=self.min_votes
        )

    @property
    def source(self) -> str:
        """The source as tables read it: "title — episode", or the title alone."""
        return f"{self.title} — {self.episode}" if self.episode else self.title


CANDIDATE_FIELDS = (
    "clip_id",
    "emotion__code",
    "gender__code",
    "status",
    "n_votes",
    "n_agree",
    "distribution",
    "clip__speaker",
    "clip__duration_s",
    "clip__recording_id",
    "clip__recording__source__title",
    "clip__recording__source__episode",
    "clip__speaker_cluster_id",
    "clip__speaker_cluster__series_speaker_id",
    "clip__speaker_cluster__label",
    "clip__speaker_cluster__series_speaker__name",
)


def _group_key(c: Candidate, group_by: str) -> str:
    if group_by == "speaker" and c.speaker:
        return f"speaker:{c.speaker}"
    if group_by == "speaker_cluster":
        # who speaks, as speaker normalisation groups clips too: speaker, series speaker, cluster
        key = voice_key(speaker=c.speaker, series_speaker_id=c.voice, cluster_id=c.cluster)
        if key:
            return key
    if group_by == "series":
        return f"series:{c.title}"
    if group_by == "episode":
        return f"episode:{c.title}|{c.episode}"
    # Speaker unknown (TV clips): the recording is the safest leak-free unit.
    return f"recording:{c.recording_id}"


def _speaker(c: Candidate) -> str:
    """Who speaks, as metadata.csv's `speaker` column names them: an imported corpus's speaker,
    else the name a curator gave the series speaker (the voice across episodes), else the label
    of the speaker step's cluster ("Nsibti S01E03-spk2"), else "" (no speaker step ran)."""
    return c.speaker or c.voice_name or c.cluster_label


def _voice(c: Candidate) -> str:
    """Who speaks, as the data card counts speakers: the named speaker, else the speaker step's
    voice (series speaker, by its curator-given name when it has one, else the cluster), else ""."""
    if c.speaker:
        return c.speaker
    if c.voice:
        return c.voice_name or f"voice-{c.voice}"
    return c.cluster_label


def release_candidates(*, project: Project, params: ReleaseParams) -> list[Candidate]:
    """Clips that may enter the release, with their consensus and provenance (plain rows: a
    release reads up to 100,000 of them).

    A candidate's consensus is usable (`ClipConsensus.usable_q`: agreed with at least
    `min_agreement` votes, or adjudicated / gold if the params admit them), its emotion is in
    `label_set`, its clip is neither rejected nor excluded, and its source among `sources` if
    given.

    Args:
        project: the project.
        params: the release parameters (not validated here).
    Returns:
        Candidates in clip id order, each with the project's `consensus_min_votes` (default 2).
    """
    ok = ClipConsensus.usable_q(
        min_agreement=params.min_agreement, adjudicated=params.include_adjudicated, gold=params.include_gold
    )
    qs = (
        ClipConsensus.objects.filter(
            ok, clip__recording__source__project=project, emotion__code__in=params.label_set
        )
        .exclude(clip__status__in=[Clip.Status.REJECTED, Clip.Status.EXCLUDED])
        .order_by("clip_id")
    )
    if params.sources:
        qs = qs.filter(clip__recording__source_id__in=params.sources)
    min_votes = AnnotationConfig.objects.filter(project=project).values_list("consensus_min_votes", flat=True)
    min_votes = min_votes.first() or 2
    return [
        Candidate(*row[:2], row[2] or "", *row[3:-2], row[-2] or "", row[-1] or "", min_votes=min_votes)
        for row in qs.values_list(*CANDIDATE_FIELDS).iterator(chunk_size=20000)
    ]


def release_build(*, project: Project, params: ReleaseParams, created_by=None) -> Release:
    """Build and store a new version of release `params.name`.

    1. Validate the parameters (clear message per field).
    2. Take the candidates (consensus at the chosen agreement; adjudicated and gold if chosen).
    3. Split by group without leakage, stratified by label, and balance (both seeded; for
       undersampling, each split is balanced after the split). A "kfold" release instead folds
       by group (`_balanced_folds`, `grouped_stratified_kfold`): every item keeps split "train"
       and gets its fold (0 .. k-1) on the ReleaseItem and in the manifest.
    4. For oversampling (holdout only), plan augmented copies of training items only.
    5. Write the sorted JSON-lines manifest, its sha256, and the items, in one transaction.

    The version is the name's highest version in the project + 1 (read under a lock of the project row); the
    manifest is stored at releases/<project slug>/<name>/v<version>/manifest.jsonl and deleted
    again if the rows cannot be written.

    Args:
        project: the project.
        params: the release parameters.
        created_by: the user recorded on the release.
    Returns:
        The new Release (status built), with `counts` = `split_report` (+ "augmented_copies"
        per label when oversampling); for "kfold", `fold_report` ({"fold 0": ..., ...}: items,
        groups, duration and labels per fold).
    Raises:
        ValidationError: invalid parameters ({field: message}); no matching clip; a label of
            `label_set` no clip carries ({"label_set"}); a split that cannot be made, e.g. too
            few groups or a bad seed ({"split"}); folds that cannot be made: fewer than 2 groups,
            k above the number of groups ({"folds"}).
    """
    ratios = params.validate()
    candidates = release_candidates(project=project, params=params)
    if not candidates:
        raise ValidationError("No clip matches these parameters: nothing to release.")
    by_clip = {c.clip_id: c for c in candidates}
    items = [
        Item(
            id=c.clip_id,
            label=c.label,
            group=_group_key(c, params.group_by),
            gender=c.gender,
            duration=c.duration,
        )
        for c in candidates
    ]
    labels_present = {i.label for i in items}
    if missing := [code for code in params.label_set if code not in labels_present]:
        raise ValidationError({"label_set": f"No clip carries label(s): {', '.join(missing)}."})
    if params.split_kind == "kfold":
        try:
            folds = _balanced_folds(items, params)
        except ValueError as exc:  # k above the number of groups, one group only...
            raise ValidationError({"folds": str(exc)}) from exc
        # Every clip of a k-fold release is kept in split "train": each fold is the test set of
        # one cross-validated child run and training data of the others (the `fold` column).
        everything = sorted((item for fold in folds for item in fold), key=lambda i: i.id)
        return _release_store(
            project=project,
            params=params,
            splits={"train": everything, "validation": [], "test": []},
            copies=[],
            by_clip=by_clip,
            created_by=created_by,
            folds=folds,
        )
    try:
        splits = _balanced_splits(items, params, ratios)
    except ValueError as exc:  # too few groups to split, and the like: the curator must know why
        raise ValidationError({"split": str(exc)}) from exc
    copies = plan_oversampling(splits["train"], seed=params.seed) if params.balancing == "oversample" else []
    return _release_store(
        project=project, params=params, splits=splits, copies=copies, by_clip=by_clip, created_by=created_by
    )


def _balanced_splits(items: list[Item], params: ReleaseParams, ratios) -> dict[str, list[Item]]:
    if params.balancing == "undersample":
        # Whole speakers (or episodes) go to one split, so balancing first and splitting after
        # would leave each split a few clips off balance: split first, then undersample each
        # split to its smallest class. Every split, and so the release, is exactly balanced.
        splits = grouped_stratified_split(items, ratios=ratios, seed=params.seed)
        return {
            name: sorted(balance(part, strategy="undersample", seed=params.seed), key=lambda i: i.id)
            if part
            else []
            for name, part in splits.items()
        }
    chosen = balance(items, strategy=params.balancing, seed=params.seed, cap=params.cap)
    return grouped_stratified_split(chosen, ratios=ratios, seed=params.seed)


def _balanced_folds(items: list[Item], params: ReleaseParams) -> list[list[Item]]:
    """The k folds of a "kfold" release, balanced as a holdout release's splits are.

    Undersampling comes after folding, fold by fold (as a holdout release undersamples each split
    after splitting), so that every fold, and so every test fold, is exactly balanced; the other
    strategies balance the whole set first, then fold it. `params.folds == 0` means one fold per
    group (leave one group out).

    Raises:
        ValueError: from `grouped_stratified_kfold` (too few groups, k above the groups...).
    """

    def k_for(chosen: list[Item]) -> int:
        return params.folds or len({item.group for item in chosen})

    if params.balancing == "undersample":
        folds = grouped_stratified_kfold(items, k_for(items), params.seed)
        return [
            sorted(balance(fold, strategy="undersample", seed=params.seed), key=lambda i: i.id)
            for fold in folds
        ]
    chosen = balance(items, strategy=params.balancing, seed=params.seed, cap=params.cap)
    return grouped_stratified_kfold(chosen, k_for(chosen), params.seed)


def _release_store(*, project, params, splits, copies, by_clip, created_by, folds=None) -> Release:
    votes = _votes(project, by_clip)
    ratings = _ratings(project, by_clip, release_name=params.name)
    escalated = set(
        PoolEntry.objects.filter(project=project, kind="labelling", escalated=True).values_list(
            "clip_id", flat=True
        )
    )
    fold_of = {item.id: f for f, fold in enumerate(folds or []) for item in fold}
    rows = []
    for split_name in ("train", "validation", "test"):
        for item in splits[split_name]:
            rows.append((split_name, item, 0))
    rows += [("train", item, copy_index) for item, copy_index in copies]
    rows.sort(key=lambda r: (r[0], r[1].label, r[1].id, r[2]))
    lines, release_items = [], []
    for split_name, item, copy_index in rows:
        c = by_clip[item.id]
        suffix = f"_aug{copy_index}" if copy_index else ""
        file_name = f"audio/{split_name}/{item.label}/{item.id}{suffix}.wav"
        lines.append(
            json.dumps(
                {
                    "file_name": file_name,
                    "clip_id": item.id,
                    "split": split_name,
                    "label": item.label,
                    "gender": item.gender,
                    "group": item.group,
                    "source": c.source,
                    "speaker": _speaker(c),
                    "voice": _voice(c),
                    "duration": round(c.duration, 4),
                    "agreement": c.agreement,
                    # One unit per column: `votes` counts annotators' votes ({} for a gold clip of
                    # an imported corpus, which nobody voted on); `soft_label` is the consensus's
                    # distribution (vote shares, Dawid-Skene posteriors, or 1.0 for a gold label).
                    "votes": votes.get(item.id, {}),
                    "soft_label": dict(sorted(c.distribution.items())),
                    # Every rater's label, by an anonymous id (`rater_id`), in the order given;
                    # [] and 0 for a gold clip. `escalated`: its first K labels disagreed, so it
                    # got more raters (dynamic overlap).
                    "ratings": ratings.get(item.id, []),
                    "n_raters": len(ratings.get(item.id, [])),
                    "escalated": item.id in escalated,
                    "augmented_copy": copy_index,
                    # Only k-fold manifests carry the key: holdout manifests (and checksums) stay
                    # as they were; the export writes an empty fold for them.
                    **({"fold": fold_of[item.id]} if folds is not None else {}),
                },
                sort_keys=True,
                ensure_ascii=False,
            )
        )
        release_items.append(
            (
                item.id,
                split_name,
                item.label,
                item.gender,
                item.group,
                copy_index,
                file_name,
                fold_of.get(item.id),
            )
        )
    manifest = ("\n".join(lines) + "\n").encode()
    checksum = hashlib.sha256(manifest).hexdigest()
    report = fold_report(folds) if folds is not None else split_report(splits)
    if copies:
        report["augmented_copies"] = dict(sorted(Counter(item.label for item, _ in copies).items()))
    with transaction.atomic():
        # Lock a row that exists (the project: FOR UPDATE cannot lock an aggregate), so two
        # builds of one name take their versions one after the other: v1 and v2, never a clash.
        Project.objects.select_for_update().filter(pk=project.pk).first()
        version = (
            Release.objects.filter(project=project, name=params.name).aggregate(v=Max("version"))["v"] or 0
        ) + 1
        key = default_storage.save(
            f"releases/{project.slug}/{params.name}/v{version}/manifest.jsonl", ContentFile(manifest)
        )
        try:
            release = Release.objects.create(
                project=project,
                name=params.name,
                version=version,
                params=asdict(params),
                manifest=key,
                checksum=checksum,
                counts=report,
                platform_version=tuniser.__version__,
                n_items=len(release_items),
                created_by=created_by,
            )
            fast_insert(
                ReleaseItem,
                ["release", "clip", "split", "label", "gender", "group", "copy_index", "file_name", "fold"],
                ((release.pk, *row) for row in release_items),
            )
        except BaseException:
            default_storage.delete(key)
            raise
    return release


def rater_id(*, project_id: int, release_name: str, user_id: int) -> str:
    """The anonymous id of an annotator in a release's manifest and export: "r-" and the first 8
    hex digits of HMAC-SHA256(SECRET_KEY, "<project id>:<release name>:<user id>").

    Stable for one release name (every export, and every version of the name, give one person
    the same id: a rebuild from the same data stays byte-identical, as the checksum promises),
    different across release names and projects, and not reversible to the user without the
    server's secret key. Never the username.

    Args:
        project_id: the release's project.
        release_name: the release name (`ReleaseParams.name`).
        user_id: the annotator's user id.
    Returns:
        "r-" + 8 lower-case hex digits.
    """
    message = f"{project_id}:{release_name}:{user_id}".encode()
    digest = hmac.new(settings.SECRET_KEY.encode(), message, hashlib.sha256).hexdigest()
    return f"r-{digest[:8]}"


def _ratings(project: Project, wanted, *, release_name: str) -> dict[int, list[dict]]:
    """Every counted label of the wanted clips as {"rater", "emotion", "gender"} (anonymous rater
    ids, `rater_id`; codes; gender "" if none), in the order they were given. Read per project,
    as `_votes` does, and from the same `counted_annotations`: labels of an annotator a curator
    excluded are not released, so `n_raters` always equals the sum of `votes`."""
    out: dict[int, list[dict]] = {}
    ids: dict[int, str] = {}
    rows = (
        counted_annotations(project=project)
        .order_by("pk")
        .values_list("clip_id", "annotator_id", "emotion__code", "gender__code")
    )
    for clip_id, user_id, emotion, gender in rows.iterator(chunk_size=20000):
        if clip_id not in wanted:
            continue
        if user_id not in ids:
            ids[user_id] = rater_id(project_id=project.pk, release_name=release_name, user_id=user_id)
        out.setdefault(clip_id, []).append(
            {"rater": ids[user_id], "emotion": emotion, "gender": gender or ""}
        )
    return out


def _votes(project: Project, wanted) -> dict[int, dict[str, int]]:
    """Raw votes per clip ({emotion: count}), for soft labels. Read per project, not with a
    100,000-id IN list (SQLite caps the number of query parameters)."""
    out: dict[int, Counter] = {}
    rows = counted_annotations(project=project).values_list("clip_id", "emotion__code")
    for clip_id, code in rows.iterator(chunk_size=20000):
        if clip_id in wanted:
            out.setdefault(clip_id, Counter())[code] += 1
    return {k: dict(sorted(v.items())) for k, v in out.items()}
