"""Nobody unauthenticated sees anything but the login page.

Django's LoginRequiredMiddleware redirects every page to the login form. The REST API is left
to DRF, which answers 401/403 in JSON instead of redirecting a script to an HTML form; the
health check is public so that load balancers and docker-compose can probe it.
"""

from django.contrib.auth.middleware import LoginRequiredMiddleware as DjangoLoginRequiredMiddleware

PUBLIC_PREFIXES = ("/api/", "/healthz")


class LoginRequiredMiddleware(DjangoLoginRequiredMiddleware):
    def process_view(self, request, view_func, view_args, view_kwargs):
        if request.path.startswith(PUBLIC_PREFIXES):
            return None
        return super().process_view(request, view_func, view_args, view_kwargs)


class ApplicationErrorMiddleware:
    """Pages answer a service's refusal (core.errors.ApplicationError) as an HTML page with its
    status and message, as the API does in JSON: a page naming another project's slug gets 404,
    not a 500 with a traceback. The API's errors never reach here (DRF's exception handler answers
    them first)."""

    TITLES = {400: "Bad request", 403: "Not allowed", 404: "Not found", 409: "Conflict"}

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        from django.shortcuts import render

        from core.errors import ApplicationError

        if not isinstance(exception, ApplicationError):
            return None
        status = exception.status if 400 <= exception.status < 500 else 400
        title = self.TITLES.get(status, "Request refused")
        context = {"title": title, "status": status, "message": exception.message}
        return render(request, "error.html", context, status=status)
