"""Writes of persons: applying the identity rules to what the flush stored."""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from datetime import datetime, timezone

import orjson
from django.db import IntegrityError, transaction

from apps.ingest.hooks import StoredRows
from apps.persons import sql
from apps.persons.identity import Merge, override_decide, refusal_message
from apps.persons.models import IngestionWarning
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


def _project_identify(*, project_id: int, ids: list[str]) -> None:
    merges = _merges(sql.MERGES_OF, {"project_id": project_id, "ids": ids})
    if not merges:
        return
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
