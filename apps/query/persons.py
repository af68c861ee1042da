"""The person expression: who a row counts for, in every query that counts people.

Every table keeps the key of each event's own id (``person_key``: the hash of the first of
its user_id, anonymous_id and distinct_id). Ids merged into a person are recorded in
``person_overrides``, one row per merged key, with the key of its person (apps/persons).
A query counts persons by mapping keys through those overrides. Over events it does so
after it has aggregated its rows per key, so the join meets a few rows per person and not
one per event; rows of the person rollups (one per key and slot or day) meet it directly,
which measured faster than grouping them per key first:

* :func:`with_persons` adds the column ``person`` to the rows of a query that has
  ``person_key``, by a LEFT JOIN with the project's overrides (a small table: one row per
  merged id, read once per query);
* :func:`person_keys_where` turns a condition on persons into one on ``person_key``: every
  key of every person it selects, so event-level filters need no join at all;
* :func:`person_property_filters` and :func:`person_property_values` read person
  properties (``person_props``: per key and property, the value that wins by the rules
  and its rank; see migration 0007), for filters and breakdowns.

Why a join and not a dictionary: it needs no refresh (a merge counts as soon as the flush
wrote it), it runs the same on chdb and a ClickHouse server, and after the per-key
aggregation it costs a few milliseconds (see BENCHMARKS.md).
"""

from __future__ import annotations

from apps.query.filters import PropertyFilter

# The merged keys of the project, each with the key of its person: the newest version of
# each key's override (FINAL, which filters after it has merged the versions; a third of
# the time of argMax ... GROUP BY old_key), less the merges undone (new_key 0).
OVERRIDES = """(SELECT old_key, new_key
      FROM person_overrides FINAL
      WHERE project_id = {project_id:UInt64} AND new_key != 0)"""

# A person's current value of a property, over the rows of ``person_props AS pp`` of all
# its keys: the latest $set, or else the earliest $set_once (migration 0007 ranks them):
# as JSON text, and as the text filters compare.
CURRENT_VALUE = "argMax(pp.value, pp.priority)"
CURRENT_TEXT = "argMax(pp.text, pp.priority)"


def with_persons(source: str, key: str = "person_key") -> str:
    """The rows of ``source`` (which has a column ``key``) with ``person``: the key of the
    person each row counts for."""
    return f"""SELECT src.*, if(po.new_key = 0, src.{key}, po.new_key) AS person
    FROM ({source}) AS src
    LEFT JOIN {OVERRIDES} AS po ON src.{key} = po.old_key"""


def person_keys_where(persons: str) -> str:
    """``person_key IN (...)``: the keys of the persons ``persons`` selects (a query with a
    column ``person``), their own and those merged into them. ``persons`` runs once: each
    person it selects meets the list of the keys merged into it."""
    return f"""person_key IN (
        SELECT arrayJoin(arrayPushFront(merged.keys, selected.person))
        FROM ({persons}) AS selected
        LEFT JOIN (SELECT new_key, groupArray(old_key) AS keys FROM {OVERRIDES} GROUP BY new_key) AS merged
            ON selected.person = merged.new_key)"""


def person_property_values(key_param: str) -> str:
    """Rows ``(person, value)``: the current value (as text) of the person property named by
    the parameter ``key_param``, for every person that has it."""
    return f"""
        SELECT if(po.new_key = 0, pp.person_key, po.new_key) AS person, {CURRENT_TEXT} AS value
        FROM person_props AS pp
        LEFT JOIN {OVERRIDES} AS po ON pp.person_key = po.old_key
        WHERE pp.project_id = {{project_id:UInt64}} AND pp.key = {{{key_param}:String}}
        GROUP BY person"""


def person_property_filters(filters: list[PropertyFilter], params: dict, prefix: str = "pf") -> str:
    """``AND``-ed conditions on ``person_key`` for filters on person properties, with the
    same operators as event properties: equals / contains (case-insensitive) / is_set need
    the person to have the property; not_equals also matches persons without it."""
    parts = []
    for i, f in enumerate(filters):
        key, value = f"{prefix}k{i}", f"{prefix}v{i}"
        params[key] = f.key
        having = person_property_values(key)
        if f.operator == "is_set":
            parts.append(person_keys_where(f"SELECT person FROM ({having})"))
            continue
        params[value] = f.value
        if f.operator in ("equals", "not_equals"):
            matching = f"SELECT person FROM ({having}) WHERE value = {{{value}:String}}"
        elif f.operator == "contains":
            matching = f"SELECT person FROM ({having}) WHERE positionCaseInsensitiveUTF8(value, {{{value}:String}}) > 0"
        else:
            raise ValueError(f"unknown operator {f.operator!r}")
        condition = person_keys_where(matching)
        parts.append(f"NOT {condition}" if f.operator == "not_equals" else condition)
    return "".join(f"\n  AND {part}" for part in parts)


def person_breakdown_join(key_param: str, *, on: str = "person_key") -> str:
    """A LEFT JOIN that gives each row ``bp.value``: the person property named by the
    parameter ``key_param`` of the person of the row's key (``on``); '' when it has none."""
    values = person_property_values(key_param)
    return f"""
    LEFT JOIN
    (
        SELECT person AS key, value FROM ({values})
        UNION ALL
        SELECT o.old_key AS key, v.value AS value FROM {OVERRIDES} AS o INNER JOIN ({values}) AS v ON o.new_key = v.person
    ) AS bp ON bp.key = {on}"""
