"""The session engine: Django's database sessions, loaded by a prepared lookup.

Every logged-in request loads its session. Django's store compiles a queryset for that on
each request; this one reads the row by its key with a ``PreparedLookup`` and applies the
same rule (not yet expired). Saving, expiry and logout are Django's own.
"""

from django.contrib.sessions.backends import db
from django.contrib.sessions.models import Session
from django.utils import timezone

from pulseboard.prepared import PreparedLookup

_SESSION_BY_KEY = PreparedLookup(Session, "WHERE t.session_key = %s")


class SessionStore(db.SessionStore):
    def load(self):
        session = _SESSION_BY_KEY.get([self.session_key])
        if session is None or session.expire_date <= timezone.now():
            self._session_key = None
            return {}
        return self.decode(session.session_data)
