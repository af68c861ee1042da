"""A pure-Python reference of persons, event by event, written from the rules alone.

It replays events in the order of their time (ties by event id) and keeps, as it goes, the
ids seen as user ids and the person of each merged anonymous id. The production code
decides per anonymous id from the facts ClickHouse keeps (apps/persons/identity.py and
services.py); the tests check that both end with the same persons.
"""

from __future__ import annotations

import json

ILLEGAL = {
    "anonymous", "null", "undefined", "none", "nan", "0", "true", "false", "[object object]",
    "guest", "distinct_id", "id", "not_authenticated", "email",
}


def legal(value: str) -> bool:
    return bool(value.strip()) and value.strip().lower() not in ILLEGAL


def first_id(event: dict) -> str:
    return event.get("user_id") or event.get("anonymous_id") or event.get("distinct_id")


class Persons:
    """Feed events (dicts with timestamp text, event_id, the id fields and properties)."""

    def __init__(self, events: list[dict]):
        self.owner: dict[str, str] = {}  # merged anonymous id -> root id
        self.identified: set[str] = set()
        self.events = sorted(events, key=lambda e: (e["timestamp"], e["event_id"]))
        for event in self.events:
            user, anon = event.get("user_id") or "", event.get("anonymous_id") or ""
            if user and anon and user != anon and legal(user) and legal(anon) and anon not in self.identified:
                target = self.root(user)
                if anon not in self.owner and target != anon:
                    self.owner[anon] = target
            if user:
                self.identified.add(user)

    def root(self, some_id: str) -> str:
        for _ in range(10):
            if some_id not in self.owner:
                return some_id
            some_id = self.owner[some_id]
        return some_id

    def person(self, event: dict) -> str:
        """The root id of the person an event counts for."""
        return self.root(first_id(event))

    def groups(self) -> list[list[str]]:
        """Every person, as the sorted list of its ids (those with events, and those merged)."""
        members: dict[str, set[str]] = {}
        for event in self.events:
            members.setdefault(self.person(event), set()).add(first_id(event))
        for anon, target in self.owner.items():
            members.setdefault(self.root(target), set()).add(anon)
        return sorted(sorted(ids) for ids in members.values())

    def properties(self, root: str) -> dict:
        """Current properties of a person: per key the latest $set, or else the earliest $set_once."""
        set_values: dict[str, tuple] = {}
        once_values: dict[str, tuple] = {}
        for event in self.events:
            if self.person(event) != root:
                continue
            order = (event["timestamp"], event["event_id"])
            props = event.get("properties") or {}
            for key, value in (props.get("$set") or {}).items():
                if key not in set_values or order > set_values[key][0]:
                    set_values[key] = (order, value)
            for key, value in (props.get("$set_once") or {}).items():
                if key not in once_values or order < once_values[key][0]:
                    once_values[key] = (order, value)
        result = {key: value for key, (_, value) in once_values.items()}
        result.update({key: value for key, (_, value) in set_values.items()})
        return json.loads(json.dumps(result))
