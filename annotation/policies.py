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
_random_share_policies: set[str] = set()
_labelled_hooks: list[Callable[..., None]] = []
_consensus_hooks: list[Callable[..., None]] = []


def register_policy(name: str, policy: Policy, *, random_share: bool = False) -> None:
    """Make `policy` selectable as AnnotationConfig.queue_policy `name` (a later registration of
    the same name replaces it).

    Args:
        name: the value stored in `queue_policy`.
        policy: `policy(entries, project=..., kind=...)` -> the PoolEntry queryset ordered.
        random_share: the hand-out draws a share `AnnotationConfig.quota_random_share` of the
            labelling clips uniformly at random instead of by this ranking (the quota queue: the
            random picks measure the pre-labeller's bias).
    """
    _policies[name] = policy
    if random_share:
        _random_share_policies.add(name)
    else:
        _random_share_policies.discard(name)


def takes_random_share(name: str) -> bool:
    """Whether the policy `name` was registered with `random_share=True`."""
    return name in _random_share_policies


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


def register_consensus_hook(hook: Callable[..., None]) -> None:
    """`hook(clip_id=...)` runs inside the transaction that gives a clip a new consensus: its
    K-th label (agreed or awaiting a curator) or a curator's adjudication to a label.

    Args:
        hook: a function taking `clip_id` by keyword; registering it twice is a no-op.
    """
    if hook not in _consensus_hooks:
        _consensus_hooks.append(hook)


def consensus_changed(*, clip_id: int) -> None:
    """Run every registered consensus hook for `clip_id`, in registration order."""
    for hook in _consensus_hooks:
        hook(clip_id=clip_id)


_targets_hooks: list[Callable[..., None]] = []


def register_targets_hook(hook: Callable[..., None]) -> None:
    """`hook(project_id=...)` runs inside the transaction that changes a project's quota targets
    (`services.quota_target_set`, `quota_target_update`, `quota_target_delete`).

    Args:
        hook: a function taking `project_id` by keyword; registering it twice is a no-op.
    """
    if hook not in _targets_hooks:
        _targets_hooks.append(hook)


def targets_changed(*, project_id: int) -> None:
    """Run every registered targets hook for `project_id`, in registration order."""
    for hook in _targets_hooks:
        hook(project_id=project_id)


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
