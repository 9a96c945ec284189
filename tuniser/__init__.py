"""TuniSER Studio: speech-emotion dataset platform.

The Celery app is imported here so that `shared_task` binds to it when Django starts.
"""

from .celery import app as celery_app

__version__ = "0.1.0"
__all__ = ("celery_app", "__version__")
