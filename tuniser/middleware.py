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
