from django.contrib.auth.decorators import login_not_required
from django.db import connection
from django.http import JsonResponse
from django.shortcuts import render

from corpus import selectors as corpus_selectors


def home(request):
    return render(request, "home.html", {"stats": corpus_selectors.corpus_overview(user=request.user)})


@login_not_required
def healthz(request):
    """Liveness for load balancers: the database answers."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})
