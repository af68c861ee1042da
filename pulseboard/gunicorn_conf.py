"""gunicorn's settings for the HTTP tier: ``gunicorn -c python:pulseboard.gunicorn_conf
pulseboard.wsgi:application`` (docker-compose.yml). The command line adds the rest.

gunicorn takes forwarded headers from no peer (its default trusts the loopback): Django
reads them itself, as ``INGEST_TRUST_X_FORWARDED_FOR`` and ``TRUST_X_FORWARDED_PROTO`` say.
"""

from pulseboard.servers import GUNICORN_FORWARDED_ALLOW_IPS

forwarded_allow_ips = GUNICORN_FORWARDED_ALLOW_IPS
