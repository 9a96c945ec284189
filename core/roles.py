"""Roles are Django groups, created with their model permissions after every migrate
(core.services.roles_ensure); a person gets a role in a project with `manage.py member_add`.

annotator: labels clips; validator: accepts/rejects clips; curator: ingests audio, checks
agreement, builds releases; ml_staff: trains models and manages pre-labelling.
"""

ANNOTATOR = "annotator"
VALIDATOR = "validator"
CURATOR = "curator"
ML_STAFF = "ml_staff"
ALL_ROLES = (ANNOTATOR, VALIDATOR, CURATOR, ML_STAFF)
# How messages name the people of each role ("Only curators and ML staff ...").
# What a person reads: the role's name in pages and messages (the code stays in URLs and APIs).
LABEL = {ANNOTATOR: "Annotator", VALIDATOR: "Validator", CURATOR: "Curator", ML_STAFF: "ML staff"}
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


# Who is staff (may open /admin/): the roles whose walkthroughs use the admin.
STAFF_ROLES = (CURATOR, ML_STAFF)

# The model permissions each role's group holds ("app_label.action_model"). Rows stay limited to
# the user's projects by core.admin.ProjectScopedAdmin; annotators and validators work in the
# platform's pages only.
ROLE_PERMISSIONS: dict[str, tuple[str, ...]] = {
    ANNOTATOR: (),
    VALIDATOR: (),
    CURATOR: (
        "core.view_project",
        "corpus.add_source",
        "corpus.change_source",
        "corpus.view_source",
        "corpus.add_recording",
        "corpus.view_recording",
        "corpus.add_segmentationrun",
        "corpus.view_segmentationrun",
        "corpus.view_clip",
        "annotation.view_annotationconfig",
        "annotation.change_annotationconfig",
        "annotation.view_rejectionreason",
        "annotation.view_labeloption",
        "annotation.view_assignment",
        "annotation.view_validationvote",
        "annotation.view_clipdecision",
        "annotation.view_annotation",
        "annotation.view_flag",
        "annotation.view_clipconsensus",
        "annotation.view_adjudication",
        "releases.view_labelmapping",
        "releases.change_labelmapping",
        "releases.view_goldlabel",
        "releases.view_release",
        "releases.view_releaseexport",
        "inference.view_prediction",
    ),
    ML_STAFF: (
        "core.view_project",
        "corpus.view_source",
        "corpus.add_recording",
        "corpus.view_recording",
        "corpus.add_segmentationrun",
        "corpus.view_segmentationrun",
        "corpus.view_clip",
        "releases.view_release",
        "releases.view_releaseexport",
        "training.add_trainingrun",
        "training.change_trainingrun",
        "training.view_trainingrun",
        "training.view_modelversion",
        "training.add_evaluation",
        "training.view_evaluation",
        "inference.add_prelabeller",
        "inference.change_prelabeller",
        "inference.view_prelabeller",
        "inference.add_prelabeljob",
        "inference.view_prelabeljob",
        "inference.view_prediction",
    ),
}
