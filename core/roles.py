"""Roles are Django groups, created by migration 0002 (and by `ensure_roles` on demand).

annotator: labels clips; validator: accepts/rejects clips; curator: ingests audio, checks
agreement, builds releases; ml_staff: trains models and manages pre-labelling.
"""

ANNOTATOR = "annotator"
VALIDATOR = "validator"
CURATOR = "curator"
ML_STAFF = "ml_staff"
ALL_ROLES = (ANNOTATOR, VALIDATOR, CURATOR, ML_STAFF)
# How messages name the people of each role ("Only curators and ML staff ...").
PLURAL = {ANNOTATOR: "annotators", VALIDATOR: "validators", CURATOR: "curators", ML_STAFF: "ML staff"}

# Who may bring audio in and (re)segment it.
INGEST_ROLES = (CURATOR, ML_STAFF)


def user_has_role(user, *roles: str) -> bool:
    """True if `user` is authenticated and a superuser or a member of one of the `roles` groups.

    The user's group names are read once per request (cached on the user object).

    Args:
        user: a Django user, possibly anonymous.
        roles: role (group) names, any one of which suffices (see the constants above).
    Returns:
        Whether the user holds one of them; always True for a superuser, False for anonymous.
    """
    if not user.is_authenticated:
        return False
    if user.is_superuser:
        return True
    names = getattr(user, "_role_names", None)
    if names is None:
        names = set(user.groups.values_list("name", flat=True))
        user._role_names = names  # cached for the request
    return bool(names.intersection(roles))
