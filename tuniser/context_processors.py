from django.conf import settings

import tuniser


def platform(request):
    return {"PLATFORM_VERSION": tuniser.__version__, "DEBUG": settings.DEBUG}
