"""WSGI entry point: the HTTP tier of the server deployment (gunicorn)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pulseboard.settings")

application = get_wsgi_application()
