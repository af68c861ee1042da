"""Reads of persons: lists, one person, its events.

A person's id is a UUID made of the project id (high 64 bits) and the person's key (low 64
bits), so it is stable as long as the person is (an identified person's key is its user
id's), carries its project (another project's person is a 404 without a lookup), and
needs no table of its own.
"""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone

import orjson

from apps.persons import sql
from pulseboard import clickhouse

PAGE_SIZE = 50
SEARCH_MAX = 200
EVENTS_SHOWN = 50


def person_uuid(*, project_id: int, person_key: int) -> uuid.UUID:
    return uuid.UUID(int=(project_id << 64) | person_key)


def person_key_of(*, project_id: int, person_id: str) -> int | None:
    """The key a person id names, or None if it is malformed or of another project."""
    try:
        value = uuid.UUID(str(person_id)).int
    except ValueError:
        return None
    if value >> 64 != project_id:
        return None
    return value & ((1 << 64) - 1)


@dataclass
class Person:
    id: uuid.UUID
    key: int
    distinct_ids: list[str]
    first_seen: datetime
    last_seen: datetime
    own_id: str = ""  # the id the person is named after (its user id, once identified)
    properties: dict = field(default_factory=dict)

    @property
    def name(self) -> str:
        """What to call the person on a page: a name or email it was given, else its id."""
        for key in ("name", "email", "$name", "$email", "username"):
            value = self.properties.get(key)
            if isinstance(value, str) and value.strip():
                return value
        return self.own_id or (self.distinct_ids[0] if self.distinct_ids else "")

    def as_json(self) -> dict:
        return {
            "id": str(self.id),
            "distinct_ids": self.distinct_ids,
            "properties": self.properties,
            "first_seen": self.first_seen.isoformat().replace("+00:00", "Z"),
            "last_seen": self.last_seen.isoformat().replace("+00:00", "Z"),
        }


@dataclass
class PersonPage:
    results: list[Person]
    next_cursor: str | None


def _cursor_encode(person: Person) -> str:
    return base64.urlsafe_b64encode(orjson.dumps([person.last_seen.isoformat(), person.key])).decode().rstrip("=")


def cursor_decode(cursor: str) -> tuple[datetime, int]:
    """A page cursor; ValueError if it is not one this API gave."""
    try:
        seen, key = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        return datetime.fromisoformat(seen), int(key)
    except (ValueError, TypeError, orjson.JSONDecodeError) as exc:
        raise ValueError("not a cursor of this list") from exc


def _value(raw: str):
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return raw


def _with_details(project_id: int, persons: list[Person]) -> list[Person]:
    """Fill in each person's properties, and the ids merged into it that have no events."""
    if not persons:
        return persons
    by_key = {person.key: person for person in persons}
    keys_rows = clickhouse.query(
        f"SELECT old_key FROM {sql.OVERRIDES} WHERE new_key IN {{persons:Array(UInt64)}}",
        {"project_id": project_id, "persons": list(by_key)},
    ).rows
    keys = list(by_key) + [row[0] for row in keys_rows]
    for person_key, key, value in clickhouse.query(
        sql.person_properties(keys=True) + "\nORDER BY key", {"project_id": project_id, "keys": keys}
    ).rows:
        if person_key in by_key:
            by_key[person_key].properties[key] = _value(value)
    for person_key, old_id in clickhouse.query(sql.MERGED_IDS, {"project_id": project_id, "persons": list(by_key)}).rows:
        person = by_key.get(person_key)
        if person is not None and old_id not in person.distinct_ids:
            person.distinct_ids.append(old_id)
    for person in persons:
        person.distinct_ids.sort()
    return persons


def _persons(project_id: int, *, params: dict, one: bool = False, search: bool = False, cursor: bool = False, many: bool = False) -> list[Person]:
    rows = clickhouse.query(sql.persons_page(one=one, search=search, cursor=cursor, many=many), {"project_id": project_id, **params}).rows
    return [
        Person(
            id=person_uuid(project_id=project_id, person_key=key), key=key, distinct_ids=list(ids), first_seen=first, last_seen=last, own_id=own
        )
        for key, ids, first, last, own in rows
    ]


def persons_list(*, project_id: int, search: str = "", cursor: str | None = None, limit: int = PAGE_SIZE) -> PersonPage:
    """Persons, most recently seen first, ``limit`` at a time; ``search`` matches their ids
    and property values (case-insensitive). Raises ValueError for a bad cursor."""
    params: dict = {"limit": limit + 1}
    if search:
        params["search"] = search
    if cursor:
        params["cursor_seen"], params["cursor_person"] = cursor_decode(cursor)
    persons = _persons(project_id, params=params, search=bool(search), cursor=bool(cursor))
    more = len(persons) > limit
    persons = _with_details(project_id, persons[:limit])
    return PersonPage(results=persons, next_cursor=_cursor_encode(persons[-1]) if more else None)


def persons_of_keys(*, project_id: int, persons: list[int]) -> list[Person]:
    """These persons (keys of persons, as figures give them), most recently seen first."""
    if not persons:
        return []
    return _with_details(project_id, _persons(project_id, params={"persons": persons, "limit": len(persons)}, many=True))


def person_of_key(*, project_id: int, key: int) -> int:
    """The person a key belongs to now."""
    return clickhouse.query(sql.PERSON_OF_KEY, {"project_id": project_id, "key": key}).scalar()


def person_get(*, project_id: int, person_key: int) -> Person | None:
    """The person with this key, or the one its key was merged into; None if none."""
    person_key = person_of_key(project_id=project_id, key=person_key)
    persons = _persons(project_id, params={"person": person_key, "person_key": person_key, "limit": 1}, one=True)
    return _with_details(project_id, persons)[0] if persons else None


def person_visible(*, project_id: int, person_id: str) -> Person | None:
    """The person a page or the API may show for this id: None if the id is malformed, of
    another project, unknown, or of a person being deleted."""
    from apps.persons.models import PersonDeletion

    key = person_key_of(project_id=project_id, person_id=person_id)
    person = person_get(project_id=project_id, person_key=key) if key is not None else None
    if person is None:
        return None
    deleting = PersonDeletion.objects.filter(
        project_id=project_id, person_key=person.key, status__in=[PersonDeletion.Status.QUEUED, PersonDeletion.Status.RUNNING]
    )
    return None if deleting.exists() else person


def person_by_distinct_id(*, project_id: int, distinct_id: str) -> Person | None:
    key = clickhouse.query("SELECT cityHash64({id:String})", {"id": distinct_id}).scalar()
    return person_get(project_id=project_id, person_key=key)


def person_keys(*, project_id: int, person_key: int) -> list[int]:
    """Every key of a person: its own and those merged into it."""
    return [row[0] for row in clickhouse.query(sql.PERSON_KEYS, {"project_id": project_id, "person_key": person_key}).rows]


# Before every event: the cursor of a first page.
FIRST_PAGE = (datetime(2299, 12, 31, tzinfo=timezone.utc), uuid.UUID(int=(1 << 128) - 1))


def person_events(
    *, project_id: int, person_key: int, limit: int = EVENTS_SHOWN, before: tuple[datetime, uuid.UUID] | None = None
) -> list[dict]:
    """The events of every id of a person, newest first: ``limit`` of them, older than
    ``before`` (the (timestamp, event_id) of the last one of the previous page)."""
    keys = person_keys(project_id=project_id, person_key=person_key)
    cursor_ts, cursor_id = before or FIRST_PAGE
    params = {"project_id": project_id, "keys": keys, "limit": limit, "cursor_ts": cursor_ts, "cursor_id": cursor_id}
    return clickhouse.query(sql.PERSON_EVENTS, params).dicts()


def ingestion_warnings(*, project_id: int, limit: int = 100):
    """The project's ingestion warnings, newest first."""
    from apps.persons.models import IngestionWarning

    return IngestionWarning.objects.filter(project_id=project_id).order_by("-created_at", "-id")[:limit]
