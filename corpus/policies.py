"""Hooks through which upper layers steer the corpus without the corpus importing them.

`annotation` registers a check that names the clips somebody has validated or labelled; the
corpus then never deletes or moves those clips when a recording is segmented again.
"""

from collections.abc import Callable

from django.db.models import QuerySet

ClipWorkCheck = Callable[[QuerySet], QuerySet]
_clip_work_checks: list[ClipWorkCheck] = []


def register_clip_work_check(check: ClipWorkCheck) -> None:
    """`check(clips)` returns the subset of `clips` that carries somebody's work."""
    if check not in _clip_work_checks:
        _clip_work_checks.append(check)


def clip_ids_with_work(clips: QuerySet) -> set[int]:
    ids: set[int] = set()
    for check in _clip_work_checks:
        ids.update(check(clips).values_list("id", flat=True))
    return ids
