"""Writes of persons: applying the identity rules to what the flush stored."""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from datetime import datetime, timezone

import orjson
from django.db import IntegrityError, transaction
from django.utils import timezone as django_timezone

from apps.ingest import stream
from apps.ingest.hooks import StoredRows
from apps.ingest.reconcile import EPOCH, ROLLUPS, bucket_runs, rollup_clear, rollup_count, rollup_fill
from apps.persons import sql
from apps.persons.identity import Merge, override_decide, refusal_message
from apps.persons.models import IngestionWarning, PersonDeletion
from apps.persons.selectors import person_keys, person_uuid
from apps.projects.models import Project
from pulseboard import clickhouse

logger = logging.getLogger(__name__)

# How far a change of one person's root is followed to the ids merged into it.
CASCADE_ROUNDS = 5


def _ids_of(stored: list[StoredRows]) -> dict[int, set[str]]:
    """Per project, the ids whose person a batch may change: the anonymous ids it asks to
    merge, and the user ids it saw (a user id seen earlier than a merge of it as an
    anonymous id undoes that merge)."""
    ids: dict[int, set[str]] = defaultdict(set)
    for part in stored:
        for line in part.rows.split(b"\n"):
            if not line or b'"user_id":""' in line:
                continue
            row = orjson.loads(line)
            user_id, anonymous_id = row.get("user_id") or "", row.get("anonymous_id") or ""
            ids[part.project_id].add(user_id)
            if anonymous_id and anonymous_id != user_id:
                ids[part.project_id].add(anonymous_id)
    return ids


def _merges(query: str, params: dict) -> dict[int, list[Merge]]:
    by_anon: dict[int, list[Merge]] = defaultdict(list)
    for anon_key, user_key, anonymous_id, user_id, at_time, at_id in clickhouse.query(query, params).rows:
        by_anon[anon_key].append(Merge(anon_key, user_key, anonymous_id, user_id, (at_time, str(at_id))))
    return by_anon


def persons_identify(stored: list[StoredRows]) -> None:
    """Apply the merge rules to the ids a stored batch touched (the flush calls this before
    it settles the batch, so a failure here has the batch written again).

    Decisions follow from every fact ClickHouse holds, whatever order they came in, so
    running this twice for a batch changes nothing the second time."""
    for project_id, ids in _ids_of(stored).items():
        if ids:
            _project_identify(project_id=project_id, ids=sorted(ids))


def persons_reidentify(*, project_id: int, chunk: int = 20_000) -> int:
    """Decide the person of every anonymous id of a project again, from all its facts (after
    events were written without the flush, as demo seeding does). Returns the ids looked at."""
    after, seen = -1, 0
    while True:
        merges = _merges(sql.MERGES_AFTER, {"project_id": project_id, "after": after, "limit": chunk})
        if not merges:
            return seen
        _decide(project_id=project_id, merges=merges)
        seen += len(merges)
        after = max(merges)


def _project_identify(*, project_id: int, ids: list[str]) -> None:
    merges = _merges(sql.MERGES_OF, {"project_id": project_id, "ids": ids})
    if merges:
        _decide(project_id=project_id, merges=merges)


def _decide(*, project_id: int, merges: dict[int, list[Merge]]) -> None:
    """Decide the person of each anonymous key of ``merges``, write what changed, and follow
    the change to the ids merged into the keys whose person changed."""
    decided: dict[int, int] = {}
    refusals = []
    for _ in range(CASCADE_ROUNDS):
        keys = sorted(merges)
        users = sorted({m.user_key for ms in merges.values() for m in ms})
        identified = {
            key: (at_time, str(at_id))
            for key, at_time, at_id in clickhouse.query(sql.IDENTIFIED_AT, {"project_id": project_id, "keys": keys}).rows
        }
        stored = dict(clickhouse.query(sql.OVERRIDES_OF, {"project_id": project_id, "keys": sorted(set(keys) | set(users))}).rows)
        current = {**stored, **decided}

        def root_of(key: int) -> int:
            for _ in range(10):  # roots are a step away; a longer chain is cut short
                target = current.get(key, 0)
                if not target or target == key:
                    return key
                key = target
            return key

        changed = []
        anon_ids = {}
        for key in keys:
            decision = override_decide(merges=merges[key], identified_at=identified.get(key), root_of=root_of)
            refusals += decision.refused
            anon_ids[key] = merges[key][0].anonymous_id
            if current.get(key, 0) != decision.target:
                decided[key] = current[key] = decision.target
                changed.append(key)
        if changed:
            _overrides_write(project_id=project_id, targets={k: decided[k] for k in changed}, ids=anon_ids)
        # A person whose root changed takes the ids merged into it along.
        merges = _merges(sql.MERGES_INTO, {"project_id": project_id, "keys": changed}) if changed else {}
        if not merges:
            break
    if refusals:
        _warnings_record(project_id=project_id, refusals=refusals)


def _overrides_write(*, project_id: int, targets: dict[int, int], ids: dict[int, str]) -> None:
    version = time.time_ns()
    payload = b"\n".join(
        orjson.dumps({"project_id": project_id, "old_key": key, "new_key": target, "old_id": ids.get(key, ""), "version": version})
        for key, target in sorted(targets.items())
    )
    clickhouse.insert_json_each_row(sql.OVERRIDES_TABLE, sql.OVERRIDE_COLUMNS, payload)


def _warnings_record(*, project_id: int, refusals: list) -> None:
    """One ingestion warning per refused pair of ids (a repeat only counts again)."""
    if not Project.objects.filter(id=project_id).exists():
        return
    for refusal in refusals:
        merge = refusal.merge
        key = f"{refusal.reason}:{merge.anon_key}:{merge.user_key}"
        at = merge.at[0] if isinstance(merge.at[0], datetime) else datetime.now(timezone.utc)
        details = {"anonymous_id": merge.anonymous_id, "user_id": merge.user_id, "event_id": merge.at[1]}
        try:
            with transaction.atomic():
                IngestionWarning.objects.get_or_create(
                    project_id=project_id,
                    kind=IngestionWarning.Kind.MERGE_REFUSED,
                    key=key,
                    defaults={"message": refusal_message(refusal), "details": details, "event_time": at},
                )
        except IntegrityError:  # another worker recorded it first
            pass


# --- Deleting a person -----------------------------------------------------------------------------

# Columns that hold a person's keys, per table; every other table with a project_id column is
# a rollup of events the reconciler knows (rebuilt for the hours the person's events were in).
KEY_COLUMNS = {
    "identity_users": ("user_key",),
    "identity_merges": ("anon_key", "user_key"),
    "person_overrides": ("old_key", "new_key"),
}
PERSON_KEY_COLUMN = "person_key"


class UnknownTable(Exception):
    """A table with project data that deletion does not know how to clear."""


def _tables_with_projects() -> dict[str, set[str]]:
    """Every table of the database with a project_id column, with its columns."""
    rows = clickhouse.query(
        "SELECT table, groupArray(name) FROM system.columns WHERE database = currentDatabase() "
        "AND table IN (SELECT name FROM system.tables WHERE database = currentDatabase() AND engine LIKE '%MergeTree%') "
        "GROUP BY table HAVING has(groupArray(name), 'project_id')"
    ).rows
    return {table: set(columns) for table, columns in rows}


def person_deletion_request(*, project_id: int, person_key: int, distinct_ids: list[str], user) -> PersonDeletion:
    """Record that a person is to be deleted (the task does it, see :func:`person_deletion_run`)."""
    return PersonDeletion.objects.create(
        project_id=project_id,
        person_id=person_uuid(project_id=project_id, person_key=person_key),
        person_key=person_key,
        distinct_ids=distinct_ids,
        requested_by=user if getattr(user, "is_authenticated", False) else None,
        requested_by_name=getattr(user, "username", "") or "",
    )


def person_deletion_run(*, deletion: PersonDeletion) -> PersonDeletion:
    """Delete every row of every id of the person from every ClickHouse table, and record
    the rows removed per table.

    Tables keyed by person lose the person's rows; rollups that count events without
    naming persons (events per slot, sessions) are rebuilt, from what events still holds,
    for the hours the person's events were in. Batches are not written meanwhile (the
    writers' lock), so no insert is half-way through while the tables change."""
    project_id, root = deletion.project_id, int(deletion.person_key)
    deletion.status = PersonDeletion.Status.RUNNING
    deletion.save(update_fields=["status"])
    removed: dict[str, int] = {}
    try:
        with stream.writers_excluded():
            keys = person_keys(project_id=project_id, person_key=root)
            params = {"project_id": project_id, "keys": keys}
            hours = [
                row[0]
                for row in clickhouse.query(
                    "SELECT DISTINCT toStartOfHour(timestamp) FROM events WHERE project_id = {project_id:UInt64} AND person_key IN {keys:Array(UInt64)}",
                    params,
                ).rows
            ]
            # Every DELETE is sent first and waited for together: each one works through
            # all the parts of its table, and ClickHouse runs different tables side by side.
            rebuilt, changed = [], []
            for table, columns in sorted(_tables_with_projects().items()):
                key_columns = KEY_COLUMNS.get(table) or ((PERSON_KEY_COLUMN,) if PERSON_KEY_COLUMN in columns else None)
                if key_columns is None:
                    rollup = next((r for r in ROLLUPS if r.table == table), None)
                    if rollup is None:
                        raise UnknownTable(f"{table} has project data, and person deletion does not know how to clear it")
                    ranges = bucket_runs(sorted({hour - (hour - EPOCH) % rollup.bucket for hour in hours}), rollup.bucket)
                    if ranges:
                        removed[table] = rollup_count(rollup, project_id=project_id, ranges=ranges)
                        rollup_clear(rollup, project_id=project_id, ranges=ranges)
                        rebuilt.append((rollup, ranges))
                        changed.append(table)
                    continue
                condition = " OR ".join(f"{column} IN {{keys:Array(UInt64)}}" for column in key_columns)
                where = f"project_id = {{project_id:UInt64}} AND ({condition})"
                removed[table] = clickhouse.query(f"SELECT count() FROM {table} WHERE {where}", params).scalar()
                if removed[table]:
                    clickhouse.command(f"DELETE FROM {table} WHERE {where} SETTINGS lightweight_deletes_sync = 0", params)
                    changed.append(table)
            clickhouse.mutations_wait(changed)
            # The rollups that count events without naming persons, computed again for the
            # person's hours from what events now holds.
            for rollup, ranges in rebuilt:
                rollup_fill(rollup, project_id=project_id, ranges=ranges)
                removed[rollup.table] -= rollup_count(rollup, project_id=project_id, ranges=ranges)
    except Exception as exc:
        deletion.status = PersonDeletion.Status.FAILED
        deletion.error = f"{type(exc).__name__}: {exc}"[:2000]
        deletion.rows_removed = removed
        deletion.finished_at = django_timezone.now()
        deletion.save()
        raise
    deletion.status = PersonDeletion.Status.DONE
    deletion.rows_removed = removed
    deletion.finished_at = django_timezone.now()
    deletion.save()
    return deletion
