from django.conf import settings

import tuniser
from core import roles

from .navigation import navigation


def platform(request):
    user = getattr(request, "user", None)
    has = (lambda *names: roles.user_has_role(user, *names)) if user is not None else (lambda *names: False)
    authenticated = user is not None and user.is_authenticated
    match = getattr(request, "resolver_match", None)
    return {
        # The top bar's menus (tuniser.navigation); empty for anonymous visitors.
        "NAV": navigation(user, match.url_name if match else None) if authenticated else [],
        "PLATFORM_VERSION": tuniser.__version__,
        "DEBUG": settings.DEBUG,
        # What the navigation offers; every view checks the role again on its own.
        "ROLES": {
            "ingest": has(*roles.INGEST_ROLES),
            "validator": has(roles.VALIDATOR, roles.CURATOR),
            "annotator": has(roles.ANNOTATOR, roles.CURATOR),
            "curator": has(roles.CURATOR),
            "ml_staff": has(roles.ML_STAFF),
        },
    }
