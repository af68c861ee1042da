"""The browser, OS, device type and country of an event, worked out once at ingest.

The web overview counts visitors by these, over millions of rows: parsing user agents at
query time is out of the question, so each accepted event carries them as columns
(migration 0008). They are worked out when a request is validated, before the stream: the
flush writes the stream's rows without decoding them, and the IP is known only there.

* Browser, OS and device type come from the user agent, parsed by ``user-agents-ng``
  (the maintained successor of ``user-agents``, on uap-core's rules through ``ua-parser``).
  User agents repeat a lot, so the answers are cached. When the event itself says
  (PostHog's SDKs send ``$browser``, ``$os`` and ``$device_type``, worked out on the
  device), its values win: a server that relays events sends its own user agent, not the
  visitor's.
* The country comes from the IP before it is hashed, through ``iptocc``: the country each
  Regional Internet Registry assigned the address block to, embedded in the wheel (no
  network, no file to download). Private and unknown addresses have none.

An empty value means unknown; pages show it as "Unknown".
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import iptocc
import user_agents

# ua-parser's word for "not recognised".
_OTHER = "Other"
COLUMN_MAX = 100


@lru_cache(maxsize=8192)
def user_agent_parse(user_agent: str) -> tuple[str, str, str]:
    """``(browser, os, device_type)`` of a user agent; device types are Desktop, Mobile,
    Tablet and Bot, and anything unrecognised is ``""``."""
    if not user_agent:
        return "", "", ""
    parsed = user_agents.parse(user_agent)
    browser = "" if parsed.browser.family == _OTHER else parsed.browser.family
    os = "" if parsed.os.family == _OTHER else parsed.os.family
    if parsed.is_bot:
        device_type = "Bot"
    elif parsed.is_tablet:
        device_type = "Tablet"
    elif parsed.is_mobile:
        device_type = "Mobile"
    elif parsed.is_pc:
        device_type = "Desktop"
    else:
        device_type = ""
    return browser, os, device_type


def device_columns(user_agent: str, properties: dict[str, Any] | None) -> dict[str, str]:
    """The device columns of an event: its own ``$browser`` / ``$os`` / ``$device_type``
    where it sends them as text, the parsed user agent for the rest."""
    browser, os, device_type = user_agent_parse(user_agent)
    if properties:
        browser = _own(properties, "$browser") or browser
        os = _own(properties, "$os") or os
        device_type = _own(properties, "$device_type") or device_type
    return {"browser": browser, "os": os, "device_type": device_type}


def _own(properties: dict[str, Any], key: str) -> str:
    value = properties.get(key)
    return value.strip()[:COLUMN_MAX] if isinstance(value, str) else ""


def country_of(ip: str) -> str:
    """The ISO 3166-1 alpha-2 country of an IP address, or ``""``."""
    if not ip:
        return ""
    try:
        return iptocc.country_code(ip) or ""
    except ValueError:
        return ""
