"""Where this server serves the browser SDK (sdk/, built into static/sdk/pulseboard.js)."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings
from django.http import HttpRequest


@dataclass(frozen=True)
class SdkScript:
    src: str
    # data-host: the API's origin, given only when the script is served from another one
    # (a STATIC_URL on a CDN); the SDK sends to its own origin by default.
    host: str | None


def sdk_script(*, request: HttpRequest) -> SdkScript:
    """The script tag's attributes. The address is stable (no content hash), so pages that
    pasted the snippet keep getting the current SDK."""
    src = request.build_absolute_uri(settings.STATIC_URL + "sdk/pulseboard.js")
    api_origin = request.build_absolute_uri("/").rstrip("/")
    parts = urlsplit(src)
    return SdkScript(src=src, host=None if f"{parts.scheme}://{parts.netloc}" == api_origin else api_origin)
