"""Reading HTTP requests, and answering downloads, the same way in every app."""

from __future__ import annotations

import csv
from typing import Iterable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from pulseboard.errors import ParamError


def client_ip(request: HttpRequest) -> str:
    """The address of the client that sent ``request``.

    ``REMOTE_ADDR``, unless ``INGEST_TRUST_X_FORWARDED_FOR`` says a proxy stands in front:
    then the last address of ``X-Forwarded-For``, the one that proxy added. The addresses
    before it come from the client and can be made up, so the login lockout never uses them.
    """
    if settings.INGEST_TRUST_X_FORWARDED_FOR:
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        last = forwarded.rsplit(",", 1)[-1].strip()
        if last:
            return last
    return request.META.get("REMOTE_ADDR", "")


def _csv_cell(value):
    """A cell as written: text that a spreadsheet would run as a formula (event names, URLs
    and property values come from whoever sends events) is quoted."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def csv_download(filename: str, header: list[str], rows: Iterable[Iterable]) -> HttpResponse:
    """A CSV file the browser saves as ``filename``."""
    response = HttpResponse(content_type="text/csv")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    writer = csv.writer(response)
    writer.writerow([_csv_cell(cell) for cell in header])
    writer.writerows([_csv_cell(cell) for cell in row] for row in rows)
    return response


def param_error_text(error: ParamError) -> HttpResponse:
    """A plain-text 400 naming the parameter that cannot be used: the answer of a CSV export
    (or a fragment) that has no page to show its error on."""
    return HttpResponse(f"{error.field}: {error.message}\n", status=400, content_type="text/plain")
