"""Pages of a project speak its timezone.

A dashboard page of a project (a URL with ``project_id``) is rendered with the project's
timezone active, so every datetime a template prints (``|date``, ``|time``, ``{{ value }}``)
is the project's local time, as on the live page and in the day buckets. The JSON APIs keep
UTC: they are left out, as are users who are not members (the view answers 404 anyway).
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from rest_framework.views import APIView

from apps.projects.selectors import project_get_for_user
from pulseboard.errors import NotFound


class ProjectTimezoneMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()

    def process_view(self, request: HttpRequest, view_func, view_args, view_kwargs) -> None:
        project_id = view_kwargs.get("project_id")
        view_class = getattr(view_func, "cls", None)
        if project_id is None or (isinstance(view_class, type) and issubclass(view_class, APIView)):
            return None
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return None
        try:
            project = project_get_for_user(user=user, project_id=project_id)
        except NotFound:
            return None
        timezone.activate(ZoneInfo(project.timezone))
        return None
