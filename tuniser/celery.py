"""Celery wiring (cookiecutter-django style): configuration comes from Django settings, under the
CELERY_ namespace, and tasks are discovered in each app's tasks.py.

Three queues: `default` (bookkeeping), `audio` (decoding, segmentation, exports: CPU-bound) and
`gpu` (training and batched inference). A deployment runs one worker per queue kind; `make run`
runs one worker that consumes all three.
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tuniser.settings")

app = Celery("tuniser")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
