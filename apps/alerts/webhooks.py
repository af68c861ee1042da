"""Webhook POSTs that reach only public addresses.

Whoever may edit an alert chooses its webhook URL, and the server, not the editor's browser,
sends the POST: without a rule, a URL could make the server talk to what only it can reach
(its Redis and Postgres, a cloud's metadata service at 169.254.169.254, an admin page on
the internal network). So unless ``ALERTS_WEBHOOK_ALLOW_PRIVATE`` is on, a webhook goes
only to public (globally routable) addresses:

* when an alert is saved, a URL whose host is a loopback, private, link-local or otherwise
  non-public IP address, or ``localhost``, is refused (:func:`webhook_host_problem`);
* when a notice is sent, every address the host resolves to is checked as the connection is
  made, on the address actually connected to, so a name that resolves (or is made to
  resolve, later) to a private address, and a redirect to one, are refused too.

Proxies from the environment are not used: the connection is the check.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import urllib.request
from urllib.parse import urlsplit

from django.conf import settings


class WebhookRefused(OSError):
    """The webhook's host is not a public address (and private ones are not allowed)."""


def _public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def _refusal(host: str, address: str) -> str:
    what = "is not a public address" if address == host else f"is {address}, not a public address"
    return f"{host} {what}: webhooks reach public addresses only (set ALERTS_WEBHOOK_ALLOW_PRIVATE=true to allow private ones)"


def webhook_host_problem(url: str) -> str | None:
    """Why ``url`` can never be a webhook here (its host is a non-public IP address or
    localhost), or None. Names are checked again when the notice is sent."""
    if settings.ALERTS_WEBHOOK_ALLOW_PRIVATE:
        return None
    host = (urlsplit(url).hostname or "").rstrip(".").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return _refusal(host, "the local machine")
    try:
        public = _public(host)
    except ValueError:
        return None  # a name: resolved when sending
    return None if public else _refusal(host, host)


def _connect(address, timeout=socket._GLOBAL_DEFAULT_TIMEOUT, source_address=None):
    """``socket.create_connection`` that connects only to addresses the rule allows."""
    host, port = address
    if settings.ALERTS_WEBHOOK_ALLOW_PRIVATE:
        return socket.create_connection(address, timeout, source_address)
    error: OSError | None = None
    for family, kind, proto, _, sockaddr in socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM):
        if not _public(sockaddr[0]):
            error = error or WebhookRefused(_refusal(host, sockaddr[0]))
            continue
        sock = socket.socket(family, kind, proto)
        try:
            if timeout is not socket._GLOBAL_DEFAULT_TIMEOUT:
                sock.settimeout(timeout)
            if source_address:
                sock.bind(source_address)
            sock.connect(sockaddr)
            return sock
        except OSError as exc:
            sock.close()
            error = exc
    raise error or OSError(f"{host} has no address")


class _HTTPConnection(http.client.HTTPConnection):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._create_connection = _connect


class _HTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._create_connection = _connect


class _HTTPHandler(urllib.request.HTTPHandler):
    def http_open(self, req):
        return self.do_open(_HTTPConnection, req)


class _HTTPSHandler(urllib.request.HTTPSHandler):
    def https_open(self, req):
        return self.do_open(_HTTPSConnection, req, context=self._context)


_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), _HTTPHandler, _HTTPSHandler)


def webhook_open(request: urllib.request.Request, *, timeout: float):
    """``urllib.request.urlopen`` under the rule above (redirects included)."""
    return _opener.open(request, timeout=timeout)
