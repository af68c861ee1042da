"""Property filters against events really stored: a number filter matches the property
whatever form the number was sent in, because both sides use ClickHouse's text for it."""

import random
import uuid
import zlib
from datetime import datetime, timezone

import orjson
import pytest

from apps.ingest.sql import EVENTS_TABLE
from apps.ingest.validation import EVENT_COLUMNS
from apps.query.filters import PropertyFilter, filter_value_text, property_filter_clean
from apps.query.sql import property_filters, property_text
from pulseboard import clickhouse

pytestmark = pytest.mark.django_db

NUMBERS = [3, -4, 0, 19.99, 2.0, 100.0, 1e16, 1e-5, 1e-7, 1.5e21, 0.30000000000000004, 1234567.0, 12345678912345678.0]


def matching(project_id: int, filters: list[PropertyFilter]) -> list[str]:
    params = {"project_id": project_id}
    where = property_filters(filters, params)
    sql = f"SELECT distinct_id FROM events WHERE project_id = {{project_id:UInt64}}{where} ORDER BY distinct_id"
    return [row[0] for row in clickhouse.query(sql, params).rows]


@pytest.fixture
def stored(member, ingest_client, send, flush_stream):
    rng = random.Random(7)
    numbers = NUMBERS + [rng.uniform(-1e9, 1e9) for _ in range(20)] + [rng.uniform(-1, 1) * 10 ** rng.randint(-12, 25) for _ in range(20)]
    events = [{"event": "e", "distinct_id": f"n{i:03d}", "properties": {"x": number}} for i, number in enumerate(numbers)]
    events += [
        {"event": "e", "distinct_id": "text", "properties": {"x": "2.0"}},
        {"event": "e", "distinct_id": "yes", "properties": {"x": True}},
        {"event": "e", "distinct_id": "none", "properties": {}},
    ]
    assert send(ingest_client, member.project.api_key, {"events": events}).status_code == 202
    flush_stream()
    return member.project.id, numbers


def test_a_number_filter_matches_the_stored_number(stored):
    project_id, numbers = stored
    for i, number in enumerate(numbers):
        expected = [f"n{i:03d}"] + (["n004"] if number == 2.0 and i != 4 else [])
        as_number = property_filter_clean({"key": "x", "value": number})
        as_text = property_filter_clean({"key": "x", "value": filter_value_text(number)})
        assert as_number == as_text
        assert sorted(matching(project_id, [as_number])) == sorted(expected), (number, as_number)


def test_strings_and_booleans(stored):
    project_id, _ = stored
    assert matching(project_id, [property_filter_clean({"key": "x", "value": "2.0"})]) == ["text"]
    assert matching(project_id, [property_filter_clean({"key": "x", "value": True})]) == ["yes"]
    assert "none" in matching(project_id, [property_filter_clean({"key": "x", "operator": "not_equals", "value": 3})])
    assert "none" not in matching(project_id, [property_filter_clean({"key": "x", "operator": "is_set"})])


# Where a key may sit in the JSON text without being a key of the object: as a value, inside
# another object, as part of a longer key. And keys that JSON writers may escape.
PLACES = {
    "top": {"plan": "pro", "a/b": "slash", "é": "accent", 'q"uote': "quote", "back\\slash": "bs", "n": 7, "obj": {"y": 1}},
    "as-value": {"kind": "plan", "text": "a/b é q\"uote back\\slash"},
    "nested": {"obj": {"plan": "inner", "a/b": "inner", "é": "inner", "n": 1}},
    "longer-key": {"plans": "many", "my_plan": "x", "nn": 3},
    "empty": {},
}


@pytest.fixture
def placed(member, ingest_client, send, flush_stream):
    events = [{"event": "e", "distinct_id": name, "properties": props} for name, props in PLACES.items()]
    assert send(ingest_client, member.project.api_key, {"events": events}).status_code == 202
    flush_stream()
    return member.project.id


def test_an_events_key_signature_has_the_bit_of_each_top_level_key(placed):
    """``property_keys`` (ClickHouse migration 0010): bit CRC32(key) % 64 of each top-level
    key, the key unescaped, and no other bit, so that a clear bit proves a key absent."""
    rows = clickhouse.query("SELECT distinct_id, property_keys FROM events WHERE project_id = {p:UInt64}", {"p": placed}).rows
    expected = {name: sum({1 << (zlib.crc32(key.encode()) % 64) for key in props}) for name, props in PLACES.items()}
    assert dict(rows) == expected


def test_properties_that_are_no_json_object_never_fail_the_insert(member):
    """The signature is computed by ClickHouse on every insert: text that is not a JSON
    object (which ingest never writes, but a row written by hand may hold) gets 0, and the
    batch is stored whole rather than refused."""
    texts = ["not json", "", "[1, 2]", '{"a": 1,', '"plan"']
    now = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
    rows = [
        {"project_id": member.project.id, "event_id": str(uuid.uuid4()), "event": "e", "timestamp": now, "distinct_id": f"d{i}",
         "properties": text, "received_at": now}
        for i, text in enumerate(texts)
    ]
    payload = b"\n".join(orjson.dumps({column: row.get(column, "") for column in EVENT_COLUMNS}) for row in rows)
    clickhouse.insert_json_each_row(EVENTS_TABLE, EVENT_COLUMNS, payload)
    stored = clickhouse.query(
        "SELECT distinct_id, property_keys, " + property_text("k") + " FROM events WHERE project_id = {p:UInt64} ORDER BY distinct_id",
        {"p": member.project.id, "k": "plan"},
    ).rows
    assert stored == [(f"d{i}", 0, "") for i in range(len(texts))]


@pytest.mark.parametrize("key", ["plan", "a/b", "é", 'q"uote', "back\\slash", "n", "obj", "absent"])
def test_a_property_is_read_only_where_it_is_a_key_of_the_object(placed, key):
    """Reading a property skips the JSON of events whose text cannot hold the key: the value
    and ``is_set`` are those of the top-level key, whatever else the text holds."""
    def expected(props):
        value = props.get(key)
        return "" if value is None else value if isinstance(value, str) else orjson.dumps(value).decode()

    params = {"project_id": placed, "k": key}
    rows = clickhouse.query(
        f"SELECT distinct_id, {property_text('k')} FROM events WHERE project_id = {{project_id:UInt64}} ORDER BY distinct_id", params
    ).rows
    assert dict(rows) == {name: expected(props) for name, props in PLACES.items()}
    is_set = [PropertyFilter(key=key, operator="is_set", value="")]
    assert matching(placed, is_set) == sorted(name for name, props in PLACES.items() if key in props)
