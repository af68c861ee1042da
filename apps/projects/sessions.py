"""The session engine: Django's database sessions, loaded with one plain SQL query.

Every logged-in request loads its session. Django's store compiles a queryset and builds a
model for that; this one runs the same lookup (the key, not yet expired) as prepared SQL and
decodes the data. Saving, expiry and logout are Django's own.
"""

from django.contrib.sessions.backends import db
from django.contrib.sessions.models import Session
from django.db import connections, router
from django.utils import timezone

_LOAD_SQL = f"SELECT session_data FROM {Session._meta.db_table} WHERE session_key = %s AND expire_date > %s"


class SessionStore(db.SessionStore):
    def load(self):
        connection = connections[router.db_for_read(Session)]
        with connection.cursor() as cursor:
            cursor.execute(_LOAD_SQL, [self.session_key, connection.ops.adapt_datetimefield_value(timezone.now())])
            row = cursor.fetchone()
        if row is None:
            self._session_key = None
            return {}
        return self.decode(row[0])
