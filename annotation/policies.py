"""Pluggable ordering of the labelling and validation queues, and hooks for upper layers.

A policy takes the queryset of open PoolEntry rows and returns it ordered. The default is
breadth-first: clips that already have labels come first, so clips reach K quickly. Upper apps
(inference: "rarest predicted class first", "most uncertain first") register their own with
`register_policy` and write `PoolEntry.priority`; the annotation app never imports them.
"""

from __future__ import annotations

from collections.abc import Callable

from django.db.models import QuerySet

Policy = Callable[..., QuerySet]
_policies: dict[str, Policy] = {}
_labelled_hooks: list[Callable[..., None]] = []


def register_policy(name: str, policy: Policy) -> None:
    """Make `policy` selectable as AnnotationConfig.queue_policy `name` (a later registration of
    the same name replaces it).

    Args:
        name: the value stored in `queue_policy`.
        policy: `policy(entries, project=..., kind=...)` -> the PoolEntry queryset ordered.
    """
    _policies[name] = policy


def available_policies() -> list[str]:
    """The registered policy names, sorted."""
    return sorted(_policies)


def order(entries: QuerySet, *, project, kind: str, config) -> QuerySet:
    """Order open pool entries for a hand-out.

    Escalated labelling entries (clips whose labels disagreed and that wait for one more rater)
    come first whatever the policy, then the policy's own order: a clip half-decided should be
    finished before fresh clips are started (dynamic overlap, `annotation.crowd`).

    Args:
        entries: a PoolEntry queryset (open entries of one project and kind).
        project: the project, passed on to the policy.
        kind: "labelling" uses `config.queue_policy`; any other kind is breadth-first.
        config: the project's AnnotationConfig.
    Returns:
        `entries` ordered; an unknown policy name falls back to `breadth_first`.
    """
    if kind != "labelling":
        return breadth_first(entries, project=project, kind=kind)
    policy = _policies.get(config.queue_policy, breadth_first)
    ordered = policy(entries, project=project, kind=kind)
    return ordered.order_by("-escalated", *ordered.query.order_by)


def breadth_first(entries: QuerySet, **_) -> QuerySet:
    """Most labels (or votes) done first, then lowest `priority`, then clip id (the `pool_next`
    index)."""
    return entries.order_by("-n_done", "priority", "clip_id")


def fifo(entries: QuerySet, **_) -> QuerySet:
    """Oldest clip first (by clip id)."""
    return entries.order_by("clip_id")


register_policy("breadth_first", breadth_first)
register_policy("fifo", fifo)


def register_labelled_hook(hook: Callable[..., None]) -> None:
    """`hook(clip_id=...)` runs inside the transaction that gives a clip its K-th label.

    Args:
        hook: a function taking `clip_id` by keyword; registering it twice is a no-op.
    """
    if hook not in _labelled_hooks:
        _labelled_hooks.append(hook)


def clip_labelled(*, clip_id: int) -> None:
    """Run every registered labelled hook for `clip_id`, in registration order (an exception
    rolls the label back with the caller's transaction)."""
    for hook in _labelled_hooks:
        hook(clip_id=clip_id)


_handout_extras: list[Callable[..., dict]] = []


def register_handout_extra(extra: Callable[..., dict]) -> None:
    """`extra(clip_id=..., project=..., kind=...)` returns fields added to a hand-out (e.g. the
    pre-labeller's suggestion when a project shows it).

    Args:
        extra: the function (keyword arguments as above) returning a dict; registering it twice
            is a no-op.
    """
    if extra not in _handout_extras:
        _handout_extras.append(extra)


def handout_extras(*, clip_id: int, project, kind: str) -> dict:
    """The fields every registered extra adds to the hand-out of `clip_id`.

    Args:
        clip_id: the clip handed out.
        project: its project.
        kind: "validation" or "labelling".
    Returns:
        The extras' dicts merged in registration order (a later key wins); {} if none.
    """
    out: dict = {}
    for extra in _handout_extras:
        out.update(extra(clip_id=clip_id, project=project, kind=kind))
    return out
