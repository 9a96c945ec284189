"""Hooks through which upper layers steer the corpus without the corpus importing them.

`annotation` registers a check that names the clips somebody has validated or labelled; the
corpus then never deletes or moves those clips when a recording is segmented again.
"""

from collections.abc import Callable

from django.db.models import QuerySet

ClipWorkCheck = Callable[[QuerySet], QuerySet]
_clip_work_checks: list[ClipWorkCheck] = []


def register_clip_work_check(check: ClipWorkCheck) -> None:
    """`check(clips)` returns the subset of `clips` that carries somebody's work.

    Args:
        check: a function of a Clip queryset returning a Clip queryset; registering the same
            function twice is a no-op.
    """
    if check not in _clip_work_checks:
        _clip_work_checks.append(check)


def clip_ids_with_work(clips: QuerySet) -> set[int]:
    """Ids of the `clips` (a Clip queryset) that any registered check says carry somebody's work;
    empty when no layer has registered one."""
    ids: set[int] = set()
    for check in _clip_work_checks:
        ids.update(check(clips).values_list("id", flat=True))
    return ids


ClipsCreatedHook = Callable[[list[int]], None]
_clips_created_hooks: list[ClipsCreatedHook] = []


def register_clips_created_hook(hook: ClipsCreatedHook) -> None:
    """`hook(clip_ids)` runs inside the transaction that creates new clips (e.g. to queue them
    for validation), so a clip never exists without what the upper layers attach to it.

    Args:
        hook: a function of a list of clip ids; registering the same function twice is a no-op.
    """
    if hook not in _clips_created_hooks:
        _clips_created_hooks.append(hook)


def clips_created(clip_ids: list[int]) -> None:
    """Announce new clips to every registered hook, in registration order (call it inside the
    transaction that created them: a hook that raises rolls the clips back)."""
    for hook in _clips_created_hooks:
        hook(clip_ids)


ClipAccessCheck = Callable[[object, int], bool]
_clip_access_checks: list[ClipAccessCheck] = []


def register_clip_access_check(check: ClipAccessCheck) -> None:
    """`check(user, clip_id)` says whether a user without a curating role may hear the clip
    (e.g. the annotator who holds it right now).

    Args:
        check: a function (user, clip id) -> bool; registering the same function twice is a
            no-op.
    """
    if check not in _clip_access_checks:
        _clip_access_checks.append(check)


def clip_access_granted(user, clip_id: int) -> bool:
    """True if any registered check lets `user` hear clip `clip_id`; False when none is
    registered."""
    return any(check(user, clip_id) for check in _clip_access_checks)
