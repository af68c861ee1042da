"""Deleting rows of a project from every ClickHouse table: the one helper behind project,
event and person deletion and retention.

It walks every MergeTree table of the database that has a ``project_id`` column, read from
``system.columns`` on every run, so a table added later is never forgotten: a table it does
not know how to clear for the condition at hand stops the deletion, before anything is
deleted, with :class:`UnknownTable`.

What is deleted is a :class:`Condition` of one project:

* the whole project: every row of the project, in every table (any table can be cleared so);
* events: of one name, and/or in a time range [since, until);
* persons: every row of a set of person keys (person deletion).

How each table is cleared:

* A table that has the columns the condition names (``event``, ``timestamp``,
  ``person_key``) is filtered directly: ``DELETE ... WHERE`` the condition.
* A rollup of events that the reconciler knows (:data:`apps.ingest.reconcile.ROLLUPS`) and
  that cannot be filtered so (a slot or a day has no timestamp; events per slot name no
  person) has the buckets the deleted events were in cleared and computed again from what
  ``events`` still holds, as the reconciler repairs drift.
* A table of persons that an app above ingest registered (:func:`person_table_register`)
  loses the rows of its person keys (person deletion), or has the rows of the persons the
  deleted events belonged to computed again from ``events`` (event deletion); a table of
  decisions (merges) keeps its rows when only events go.

Every ``DELETE`` is sent with ``lightweight_deletes_sync = 0`` and waited for together
(:func:`pulseboard.clickhouse.mutations_wait`): each works through every part of its table
(about 0.15 s a part on chdb), and ClickHouse runs different tables side by side. Callers hold
the writers' lock (:func:`apps.ingest.stream.writers_excluded`) around :func:`rows_delete`, so
that no batch is half-way through its views while the tables change; :func:`rows_delete_locked`
takes it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from apps.ingest import hooks, stream
from apps.ingest.reconcile import EPOCH, ROLLUPS, Rollup, bucket_runs, rollup_clear, rollup_count, rollup_fill
from pulseboard import clickhouse

logger = logging.getLogger(__name__)

# Up to this many persons, the person tables are rebuilt for the persons of the deleted
# events only (their keys ride in the statements); beyond it, for the whole project.
KEYED_REBUILD_MAX = 10_000

PERSON_KEY_COLUMN = "person_key"


class UnknownTable(Exception):
    """A table with project data that deletion does not know how to clear."""


@dataclass(frozen=True)
class Condition:
    """What to delete of one project. Build it with :meth:`project`, :meth:`events` or :meth:`persons`."""

    kind: Literal["project", "events", "persons"]
    project_id: int
    event: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    keys: tuple[int, ...] = ()

    @classmethod
    def project(cls, project_id: int) -> Condition:
        return cls("project", project_id)

    @classmethod
    def events(cls, project_id: int, *, event: str | None = None, since: datetime | None = None, until: datetime | None = None) -> Condition:
        if not event and since is None and until is None:
            raise ValueError("an event deletion needs an event name, a time range, or both")
        return cls("events", project_id, event=event or None, since=since, until=until)

    @classmethod
    def persons(cls, project_id: int, *, keys: list[int]) -> Condition:
        return cls("persons", project_id, keys=tuple(sorted(set(keys))))

    @property
    def params(self) -> dict:
        params: dict = {"project_id": self.project_id}
        if self.event is not None:
            params["event"] = self.event
        if self.since is not None:
            params["since"] = self.since
        if self.until is not None:
            params["until"] = self.until
        if self.kind == "persons":
            params["keys"] = list(self.keys)
        return params

    def columns_needed(self) -> set[str]:
        """The columns a table needs to be filtered by this condition directly."""
        if self.kind == "persons":
            return {PERSON_KEY_COLUMN}
        needed = set()
        if self.event is not None:
            needed.add("event")
        if self.since is not None or self.until is not None:
            needed.add("timestamp")
        return needed

    def where(self) -> str:
        """The condition on a table that has :meth:`columns_needed` (``events`` always has)."""
        parts = ["project_id = {project_id:UInt64}"]
        if self.kind == "persons":
            parts.append(f"{PERSON_KEY_COLUMN} IN {{keys:Array(UInt64)}}")
        if self.event is not None:
            parts.append("event = {event:String}")
        if self.since is not None:
            parts.append("timestamp >= {since:DateTime64(3, 'UTC')}")
        if self.until is not None:
            parts.append("timestamp < {until:DateTime64(3, 'UTC')}")
        return " AND ".join(parts)

    def describe(self) -> str:
        if self.kind == "project":
            return f"every row of project {self.project_id}"
        if self.kind == "persons":
            return f"{len(self.keys)} person keys of project {self.project_id}"
        parts = [f"events of project {self.project_id}"]
        if self.event is not None:
            parts.append(f"named {self.event!r}")
        if self.since is not None:
            parts.append(f"from {self.since.isoformat()}")
        if self.until is not None:
            parts.append(f"before {self.until.isoformat()}")
        return " ".join(parts)


@dataclass(frozen=True)
class PersonTable:
    """A table of persons, kept from events by a view (identity facts, ids, properties) or
    written by the flush (merge decisions), registered by the app that owns it.

    ``key_columns``: columns that hold person keys; a person's deletion removes every row
    where any of them holds one of its keys. ``refill``: an ``INSERT ... SELECT`` that computes
    the table's rows again from the events of one project (``{project_id:UInt64}``), with
    ``{persons}`` where a condition on ``events.person_key`` goes (``AND person_key IN ...``,
    or nothing for the whole project); it computes the rows whose ``refill_column`` is one of
    those keys. ``refill`` None: the rows are decisions, not facts of events, and deleting
    events keeps them (a merge stands until the person is deleted).
    """

    table: str
    key_columns: tuple[str, ...]
    refill: str | None = None
    refill_column: str = PERSON_KEY_COLUMN


PERSON_TABLES: dict[str, PersonTable] = {}


def person_table_register(table: PersonTable) -> None:
    """Tell deletion how to clear a table of persons (apps above ingest, in ``ready()``)."""
    PERSON_TABLES[table.table] = table


def tables_with_projects() -> dict[str, set[str]]:
    """Every MergeTree table of the database with a project_id column, with its columns."""
    rows = clickhouse.query(
        "SELECT table, groupArray(name) FROM system.columns WHERE database = currentDatabase() "
        "AND table IN (SELECT name FROM system.tables WHERE database = currentDatabase() AND engine LIKE '%MergeTree%') "
        "GROUP BY table HAVING has(groupArray(name), 'project_id')"
    ).rows
    return {table: set(columns) for table, columns in rows}


# --- The plan: how each table is cleared -----------------------------------------------------------


@dataclass
class Plan:
    direct: dict[str, str] = field(default_factory=dict)  # table -> WHERE
    rebuilt: list[Rollup] = field(default_factory=list)  # rollups: buckets cleared and filled again
    refilled: list[PersonTable] = field(default_factory=list)  # person tables: persons' rows computed again
    kept: list[str] = field(default_factory=list)  # decisions kept when events go

    @property
    def tables(self) -> list[str]:
        return sorted([*self.direct, *(r.table for r in self.rebuilt), *(p.table for p in self.refilled), *self.kept])


def plan_for(condition: Condition, tables: dict[str, set[str]] | None = None) -> Plan:
    """How every table with project data is cleared for ``condition``; raises
    :class:`UnknownTable` (before anything is deleted) for a table it cannot clear."""
    tables = tables_with_projects() if tables is None else tables
    rollups = {rollup.table: rollup for rollup in ROLLUPS}
    plan = Plan()
    unknown = []
    for table, columns in sorted(tables.items()):
        if condition.kind == "project":
            plan.direct[table] = "project_id = {project_id:UInt64}"
            continue
        person_table = PERSON_TABLES.get(table)
        if condition.kind == "persons" and person_table is not None:
            where = " OR ".join(f"{column} IN {{keys:Array(UInt64)}}" for column in person_table.key_columns)
            plan.direct[table] = f"project_id = {{project_id:UInt64}} AND ({where})"
        elif condition.columns_needed() <= columns:
            plan.direct[table] = condition.where()
        elif table in rollups:
            plan.rebuilt.append(rollups[table])
        elif person_table is not None and person_table.refill is not None:
            plan.refilled.append(person_table)
        elif person_table is not None:
            plan.kept.append(table)
        else:
            unknown.append(table)
    if unknown:
        raise UnknownTable(
            f"{', '.join(unknown)} {'has' if len(unknown) == 1 else 'have'} project data, and deletion does not know how to clear "
            f"{'it' if len(unknown) == 1 else 'them'} of {condition.describe()}: make it a rollup the reconciler knows "
            "(apps.ingest.reconcile.rollup_register) or register it with apps.ingest.deletion.person_table_register."
        )
    return plan


def tables_unknown(tables: dict[str, set[str]] | None = None) -> list[str]:
    """Tables with project data that some deletion would not know how to clear."""
    tables = tables_with_projects() if tables is None else tables
    probes = [
        Condition.events(0, event="e"),
        Condition.events(0, event="e", since=EPOCH),
        Condition.persons(0, keys=[0]),
    ]
    unknown: set[str] = set()
    for probe in probes:
        for table, columns in tables.items():
            try:
                plan_for(probe, {table: columns})
            except UnknownTable:
                unknown.add(table)
    return sorted(unknown)


# --- Running it ------------------------------------------------------------------------------------


def _count(table: str, where: str, params: dict) -> int:
    return clickhouse.query(f"SELECT count() FROM {table} WHERE {where}", params).scalar()


def _delete(table: str, where: str, params: dict) -> None:
    clickhouse.command(f"DELETE FROM {table} WHERE {where} SETTINGS lightweight_deletes_sync = 0", params)


def rows_delete(condition: Condition) -> dict[str, int]:
    """Delete what ``condition`` names from every table with project data; return the rows
    removed per table. Hold the writers' lock around it (:func:`rows_delete_locked` does).
    Whatever happens, the changed-data hook hears of it afterwards (a failure half-way has
    changed rows too), so cached figures of the project are not served again."""
    try:
        return _rows_delete(condition)
    finally:
        hooks.changed_notify(project_id=condition.project_id)


def _rows_delete(condition: Condition) -> dict[str, int]:
    plan = plan_for(condition)
    params = condition.params
    events_where = condition.where()
    removed: dict[str, int] = {table: 0 for table in plan.tables}
    changed: list[str] = []

    # What the rollups and person tables are rebuilt for, read before events lose the rows.
    ranges: dict[str, list[tuple[datetime, datetime]]] = {}
    if plan.rebuilt:
        hours = [
            row[0]
            for row in clickhouse.query(f"SELECT DISTINCT toStartOfHour(timestamp) FROM events WHERE {events_where}", params).rows
        ]
        for rollup in plan.rebuilt:
            buckets = sorted({hour - (hour - EPOCH) % rollup.bucket for hour in hours})
            if buckets:
                ranges[rollup.table] = bucket_runs(buckets, rollup.bucket)
    persons_filter, persons_params = "", {"project_id": condition.project_id}
    if plan.refilled:
        persons = clickhouse.query(f"SELECT uniqExact(person_key) FROM events WHERE {events_where}", params).scalar()
        if not persons:
            plan.refilled = []
        elif persons <= KEYED_REBUILD_MAX:
            keys = [row[0] for row in clickhouse.query(f"SELECT DISTINCT person_key FROM events WHERE {events_where}", params).rows]
            persons_filter, persons_params = " AND person_key IN {keys:Array(UInt64)}", {**persons_params, "keys": keys}
        # else: the whole project's rows are computed again

    def person_rows_where(table: PersonTable) -> str:
        if not persons_filter:
            return "project_id = {project_id:UInt64}"
        return f"project_id = {{project_id:UInt64}} AND {table.refill_column} IN {{keys:Array(UInt64)}}"

    # Every DELETE is sent first and waited for together.
    for table, where in plan.direct.items():
        removed[table] = _count(table, where, params)
        if removed[table]:
            _delete(table, where, params)
            changed.append(table)
    for rollup in plan.rebuilt:
        if rollup.table in ranges:
            removed[rollup.table] = rollup_count(rollup, project_id=condition.project_id, ranges=ranges[rollup.table])
            rollup_clear(rollup, project_id=condition.project_id, ranges=ranges[rollup.table])
            changed.append(rollup.table)
    for person_table in plan.refilled:
        where = person_rows_where(person_table)
        removed[person_table.table] = _count(person_table.table, where, persons_params)
        if removed[person_table.table]:
            _delete(person_table.table, where, persons_params)
            changed.append(person_table.table)
    clickhouse.mutations_wait(changed)

    # Computed again from what events now holds.
    for rollup in plan.rebuilt:
        if rollup.table in ranges:
            rollup_fill(rollup, project_id=condition.project_id, ranges=ranges[rollup.table])
            after = rollup_count(rollup, project_id=condition.project_id, ranges=ranges[rollup.table])
            removed[rollup.table] = max(0, removed[rollup.table] - after)
    for person_table in plan.refilled:
        clickhouse.command(person_table.refill.replace("{persons}", persons_filter), persons_params)
        after = _count(person_table.table, person_rows_where(person_table), persons_params)
        removed[person_table.table] = max(0, removed[person_table.table] - after)
    logger.info("deleted %s: %s", condition.describe(), {t: n for t, n in removed.items() if n})
    return removed


def rows_delete_locked(condition: Condition) -> dict[str, int]:
    """:func:`rows_delete` under the writers' lock."""
    with stream.writers_excluded():
        return rows_delete(condition)
