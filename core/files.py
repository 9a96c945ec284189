"""The one access check of every stored file a user can fetch (`/media/...`).

Each app that stores files registers a resolver for the names it owns (corpus: clip WAVs and
recordings; releases: manifests and export archives). A resolver answers for one storage name:
None if the file is not its own, else whether the user may fetch it (role + project, and for
annotators the live assignment). A name no resolver claims is not served at all, so a file is
never reachable by guessing its path. Denied and unknown files both answer 404, which reveals
nothing of another project.
"""

from __future__ import annotations

from collections.abc import Callable

FileResolver = Callable[[object, str], bool | None]
_resolvers: list[FileResolver] = []


def register_file_resolver(resolver: FileResolver) -> None:
    """Add `resolver(user, name) -> bool | None` (registering the same function twice is a no-op)."""
    if resolver not in _resolvers:
        _resolvers.append(resolver)


def file_access_granted(user, name: str) -> bool:
    """True if the first resolver that owns storage name `name` lets `user` fetch it.

    Args:
        user: the requesting user (anonymous users are refused).
        name: the storage name, relative to the storage root (e.g. "clips/12/run3/00001_0.wav").
    Returns:
        False for a name no resolver owns.
    """
    if not getattr(user, "is_authenticated", False):
        return False
    for resolver in _resolvers:
        verdict = resolver(user, name)
        if verdict is not None:
            return bool(verdict)
    return False
