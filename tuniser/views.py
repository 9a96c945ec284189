from django.contrib.auth.decorators import login_not_required
from django.db import connection
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.templatetags.static import static

from annotation import selectors as annotation_selectors
from annotation import services as annotation_services
from core import roles
from core import selectors as core_selectors
from corpus import selectors as corpus_selectors
from inference import selectors as inference_selectors
from training import selectors as training_selectors


def home(request):
    """Each role's own next step and counts, over the user's projects (a user may hold several
    roles: one section each). Only what the user's roles reach is read, and only links the
    user may follow are drawn (the navigation's `ROLES` context says the same)."""
    user = request.user
    has = lambda *names: roles.user_has_role(user, *names)  # noqa: E731
    context = {
        "corpus": corpus_selectors.corpus_overview(user=user) if has(*roles.INGEST_ROLES) else None,
        "work": None,
        "training": None,
        "prelabellers": None,
        "sections": {
            "validator": has(roles.VALIDATOR),
            "annotator": has(roles.ANNOTATOR),
            "curator": has(roles.CURATOR),
            "ml_staff": has(roles.ML_STAFF),
        },
    }
    if not any(context["sections"].values()) and not user.is_superuser:
        context["curators_to_ask"] = list(core_selectors.curators_to_ask(user=user))
    if has(roles.VALIDATOR, roles.ANNOTATOR, roles.CURATOR):
        annotation_services.assignments_expire_stale()  # the queue counts are then what /annotate/ serves
        context["work"] = annotation_selectors.work_overview(user=user)
    if has(roles.ML_STAFF):
        context["training"] = training_selectors.training_overview(user=user)
        context["prelabellers"] = list(inference_selectors.prelabellers_for_user(user))
    return render(request, "home.html", context)


@login_not_required
def healthz(request):
    """Liveness for load balancers: the database answers."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})


@login_not_required
def favicon(request):
    """Browsers ask for /favicon.ico on their own (pages without a <link rel="icon">, feeds, tabs
    restored from history): answer with our icon instead of a 404 line in the server log. Not
    permanent: the static file's hashed name changes with its content."""
    return redirect(static("img/favicon.ico"))
