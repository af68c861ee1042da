"""Answering HTMX and plain requests at the same URL, the same way in every app.

A page answers a normal request with the whole document and an HTMX swap with only its
partial. Both answers live at one URL, so each says that it depends on the request's HTMX
headers (``Vary``): a browser or proxy cache must never hand the partial to a normal
request, or the whole page to a swap.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.cache import patch_vary_headers
from django_htmx.http import HttpResponseClientRedirect

# The request headers that choose between the whole page and the partial (see wants_partial).
HTMX_VARY = ("HX-Request", "HX-History-Restore-Request")


def wants_partial(request: HttpRequest) -> bool:
    """An HTMX request that swaps part of the page (a history restore needs the whole page)."""
    return bool(request.htmx) and not request.htmx.history_restore_request


def vary_on_htmx(response: HttpResponse) -> HttpResponse:
    """Mark ``response`` as depending on the HTMX request headers; returns it."""
    patch_vary_headers(response, HTMX_VARY)
    return response


def page(request: HttpRequest, template: str, partial: str, context: dict, status: int = 200) -> HttpResponse:
    """``template`` (the whole page) on a normal request, ``partial`` on an HTMX swap."""
    return vary_on_htmx(render(request, partial if wants_partial(request) else template, context, status=status))


def go(request: HttpRequest, url: str) -> HttpResponse:
    """Send the browser to ``url``: an HTMX redirect header, or a plain redirect."""
    return vary_on_htmx(HttpResponseClientRedirect(url) if request.htmx else redirect(url))
