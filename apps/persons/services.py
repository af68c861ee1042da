"""Writes of persons: applying the identity rules to what the flush stored."""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from datetime import datetime, timezone

import orjson
from django.db import IntegrityError, transaction

from apps.ingest import stream
from apps.ingest.hooks import StoredRows
from apps.ingest.deletion import Condition, PersonTable, person_table_register, rows_delete
from apps.persons import sql
from apps.persons.identity import Merge, override_decide, refusal_message
from apps.persons.models import IngestionWarning, PersonDeletion
from apps.persons.selectors import person_keys, person_uuid
from apps.projects.models import AuditEntry, Project
from apps.projects.services import audit_record
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

# The tables of persons, as deletion (apps.ingest.deletion) must know them: the columns that hold
# a person's keys (a person's deletion removes the rows where any of them is one of its keys),
# and how the rows of some persons are computed again from events once events are deleted.
# Every other table with a project_id column is events, or a rollup of events the reconciler
# knows (rebuilt for the hours the person's events were in), or filtered by its person_key.
# Merge decisions (person_overrides) are not facts of events: deleting events keeps them.
PERSON_TABLES = [
    PersonTable("identity_users", ("user_key",), sql.IDENTITY_USERS_REFILL, refill_column="user_key"),
    PersonTable("identity_merges", ("anon_key", "user_key"), sql.IDENTITY_MERGES_REFILL, refill_column="user_key"),
    PersonTable("person_overrides", ("old_key", "new_key")),
    PersonTable("person_ids", ("person_key",), sql.PERSON_IDS_REFILL),
    PersonTable("person_props", ("person_key",), sql.PERSON_PROPS_REFILL),
]


def person_tables_register() -> None:
    """Tell deletion how to clear the tables of persons (``PersonsConfig.ready``)."""
    for table in PERSON_TABLES:
        person_table_register(table)


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
    for the hours the person's events were in (see :mod:`apps.ingest.deletion`). Batches
    are not written meanwhile (the writers' lock), so no insert is half-way through while
    the tables change, and no id is merged into the person between reading its keys and
    deleting them."""
    project_id, root = deletion.project_id, int(deletion.person_key)
    deletion.running()
    removed: dict[str, int] = {}
    try:
        with stream.writers_excluded():
            keys = person_keys(project_id=project_id, person_key=root)
            removed = rows_delete(Condition.persons(project_id, keys=keys))
    except Exception as exc:
        deletion.ended(removed, error=exc)
        raise
    deletion.ended(removed)
    ids = ", ".join(deletion.distinct_ids[:3]) + (f" and {len(deletion.distinct_ids) - 3} more" if len(deletion.distinct_ids) > 3 else "")
    audit_record(
        project=deletion.project,
        actor=deletion.requested_by,
        action=AuditEntry.Action.PERSON_DELETED,
        summary=f"Deleted the person {deletion.person_id} ({ids}): {removed.get('events', 0)} events.",
        details={"deletion": str(deletion.id), "person_id": str(deletion.person_id), "distinct_ids": deletion.distinct_ids, "rows_removed": removed},
    )
    return deletion
