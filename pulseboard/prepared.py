"""Model lookups that every request makes, run as prepared SQL.

A queryset compiles its SQL and works out its column converters on every call, which costs
more than the lookup itself when the row is found by primary key. A ``PreparedLookup`` does
that work once and then only runs the query and builds the instance, with Django's own
converters (SQLite returns datetimes as text, for example).
"""

from __future__ import annotations

from django.db import connections, router
from django.db.models import Model


class PreparedLookup:
    """``SELECT`` every column of ``model`` (table alias ``t``) followed by ``clause``,
    with ``%s`` placeholders; ``get`` returns the first row's instance or ``None``.
    ``extra`` maps attribute names to more SQL expressions, set on the instance as they come."""

    def __init__(self, model: type[Model], clause: str, extra: dict[str, str] | None = None):
        self.model = model
        fields = model._meta.concrete_fields
        self.attnames = [field.attname for field in fields]
        self.extra = list((extra or {}).items())
        columns = [f"t.{field.column}" for field in fields] + [expression for _, expression in self.extra]
        self.sql = f"SELECT {', '.join(columns)} FROM {model._meta.db_table} t {clause}"
        self._converters: dict[str, list] = {}

    def _converters_for(self, connection) -> list:
        converters = self._converters.get(connection.alias)
        if converters is None:
            converters = []
            for position, field in enumerate(self.model._meta.concrete_fields):
                column = field.get_col(self.model._meta.db_table)
                functions = connection.ops.get_db_converters(column) + column.get_db_converters(connection)
                if functions:
                    converters.append((position, functions, column))
            self._converters[connection.alias] = converters
        return converters

    def get(self, params: list) -> Model | None:
        using = router.db_for_read(self.model)
        connection = connections[using]
        with connection.cursor() as cursor:
            cursor.execute(self.sql, params)
            row = cursor.fetchone()
        if row is None:
            return None
        values = list(row[: len(self.attnames)])
        for position, functions, column in self._converters_for(connection):
            for function in functions:
                values[position] = function(values[position], column, connection)
        instance = self.model.from_db(using, self.attnames, values)
        for (name, _), value in zip(self.extra, row[len(self.attnames) :]):
            setattr(instance, name, value)
        return instance
