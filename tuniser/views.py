from django.contrib.auth.decorators import login_not_required
from django.db import connection
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.templatetags.static import static

from corpus import selectors as corpus_selectors


def home(request):
    return render(request, "home.html", {"stats": corpus_selectors.corpus_overview(user=request.user)})


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
