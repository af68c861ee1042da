"""Middleware of the pages: domain errors raised below a view become HTTP answers."""

from __future__ import annotations

from django.http import Http404, HttpRequest

from pulseboard.errors import NotFound


class DomainErrorMiddleware:
    """A :class:`~pulseboard.errors.NotFound` that a page's selector raised is the 404 page."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest):
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> None:
        if isinstance(exception, NotFound):
            # Django answers an Http404 raised here with the ordinary 404 page.
            raise Http404(str(exception)) from exception
        return None
