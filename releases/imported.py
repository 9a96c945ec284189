"""A release whose splits come with an imported corpus (an audiofolder export of this platform or
another, a manifest with a `split` column): the items sit in the splits the corpus names, not in
splits the platform draws.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.validators import validate_slug
from django.utils.text import slugify

from annotation.models import LabelOption
from core.models import Project
from releases.build import ReleaseParams, _group_key, _release_store, release_candidates
from releases.models import Release, ReleaseItem
from releases.splits import Item

SPLITS = tuple(ReleaseItem.Split.values)  # train, validation, test
NAME_MAX = Release._meta.get_field("name").max_length


@dataclass
class ImportedReleaseParams(ReleaseParams):
    """ReleaseParams of a release with imported splits: `split` is "imported", and
    `imported_from` names the corpus (its folder or manifest) the splits came from."""

    imported_from: str = ""


def imported_release_name(*, name: str | None, root: Path) -> str:
    """The name of the release an import builds: `name`, else the corpus folder's (or manifest's)
    name slugified.

    Args:
        name: the name the curator gave (`--release`), or None.
        root: the corpus folder, or the manifest file.
    Returns:
        A slug of at most 80 characters ("imported" when the folder's name slugifies to nothing).
    Raises:
        ValidationError: a given name that is not a slug (letters, digits, -, _) or too long.
    """
    if name is None:
        path = Path(root).resolve()
        return (slugify(path.stem if path.is_file() else path.name) or "imported")[:NAME_MAX]
    try:
        validate_slug(name)
    except ValidationError:
        raise ValidationError(
            {"release": f"'{name}' is not a release name: use letters, digits, '-' and '_'."}
        ) from None
    if len(name) > NAME_MAX:
        raise ValidationError({"release": f"A release name has at most {NAME_MAX} characters."})
    return name


def release_create_from_assignment(
    *,
    project: Project,
    name: str,
    assignment: dict[int, str],
    folds: dict[int, int] | None = None,
    imported_from: str = "",
    created_by=None,
) -> Release:
    """Store a new version of release `name` whose items sit in the splits given, clip by clip.

    1. Check the splits (train, validation, test) and that every clip is a usable candidate of
       the project (`release_candidates`: gold labels and adjudications admitted, any active label).
    2. Put each clip in its split, grouped by speaker as `release_build` groups them (the group
       is recorded; leakage is the corpus's own business, checked by nobody here).
    3. Store it with `_release_store`: the same sorted manifest, checksum, versioning and items
       as a built release; no balancing, no augmented copies. With `folds` (an export of a k-fold
       release: every clip in "train" and in one fold), the release is a k-fold release with those
       folds (`split_kind` "kfold"), ready for a cross-validated run.

    Args:
        project: the project of the clips.
        name: the release name (a slug; each call is its next version).
        assignment: {clip id: split}, e.g. `ImportReport.splits`.
        folds: {clip id: fold (0 .. k-1)} for every clip of `assignment`, or None/empty for a
            holdout release.
        imported_from: where the splits came from (the corpus folder or manifest), recorded in the
            params.
        created_by: the user recorded on the release.
    Returns:
        The new Release; its params hold {"split": "imported", "imported_from": ...,
        "label_set": the labels present in schema order, "balancing": "none", ...}.
    Raises:
        ValidationError: no clip, an unknown split, a clip of another project or with no usable
            label (rejected, excluded, an inactive label); folds given for some clips only, folds
            not numbered 0 .. k-1 with k >= 2, or a fold with clips of a split other than train.
    """
    if not assignment:
        raise ValidationError("No clip has a split: nothing to release.")
    if bad := sorted({s for s in assignment.values() if s not in SPLITS}):
        raise ValidationError({"split": f"Unknown split(s): {', '.join(bad)} (train, validation, test)."})
    codes = list(
        LabelOption.objects.filter(kind=LabelOption.Kind.EMOTION, active=True)
        .order_by("order", "pk")
        .values_list("code", flat=True)
    )
    params = ImportedReleaseParams(
        name=name,
        label_set=codes,
        min_agreement=1,
        balancing="none",
        split="imported",
        group_by="speaker",
        imported_from=imported_from,
    )
    candidates = release_candidates(project=project, params=params)
    by_clip = {c.clip_id: c for c in candidates if c.clip_id in assignment}
    if missing := sorted(set(assignment) - set(by_clip)):
        raise ValidationError(
            f"{len(missing)} clip(s) cannot be released (not in this project, rejected, excluded or "
            f"with no active label), e.g. clip #{missing[0]}."
        )
    present = {c.label for c in by_clip.values()}
    params.label_set = [code for code in codes if code in present]
    splits: dict[str, list[Item]] = {split: [] for split in SPLITS}
    for clip_id in sorted(by_clip):
        c = by_clip[clip_id]
        splits[assignment[clip_id]].append(
            Item(
                id=clip_id,
                label=c.label,
                group=_group_key(c, "speaker"),
                gender=c.gender,
                duration=c.duration,
            )
        )
    fold_lists = None
    if folds:
        fold_lists = _fold_lists(assignment, folds, splits)
        params.split_kind = "kfold"
        params.folds = len(fold_lists)
    return _release_store(
        project=project,
        params=params,
        splits=splits,
        copies=[],
        by_clip=by_clip,
        created_by=created_by,
        folds=fold_lists,
    )


def _fold_lists(
    assignment: dict[int, str], folds: dict[int, int], splits: dict[str, list[Item]]
) -> list[list[Item]]:
    """The folds of an imported k-fold release as lists of items (each in id order).

    Raises:
        ValidationError: a clip with a split and no fold (or the reverse), a clip in a split other
            than train, fold numbers other than 0 .. k-1 with k >= 2.
    """
    if set(folds) != set(assignment):
        raise ValidationError(
            {"fold": "Some clips have a fold and others not: a k-fold release gives every clip its fold."}
        )
    if splits["validation"] or splits["test"]:
        raise ValidationError({"fold": "A k-fold release keeps every clip in the train split."})
    k = max(folds.values()) + 1
    if k < 2 or set(folds.values()) != set(range(k)):
        raise ValidationError(
            {"fold": f"Folds must be numbered 0 .. k-1 with k >= 2, not {sorted(set(folds.values()))}."}
        )
    out: list[list[Item]] = [[] for _ in range(k)]
    for item in splits["train"]:
        out[folds[item.id]].append(item)
    return out
