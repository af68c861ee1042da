"""The ClickHouse package on the real engine (chdb): parameters, DDL, the process lock."""

import os
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest
from django.conf import settings

from pulseboard import clickhouse
from pulseboard.clickhouse.backends import parse_clickhouse_url
from pulseboard.clickhouse.migrate import migrations_applied, migrations_apply, migrations_available

ROOT = Path(__file__).resolve().parents[2]

TRICKY = ["it's", "back\\slash", "new\nline", "tab\tx", "é中😀", "", "'\\'", "a\rb", "nul\0x", "{p:String}", "'); DROP TABLE events; --"]


@pytest.mark.parametrize("text", TRICKY)
def test_string_parameters_round_trip_exactly(text):
    row = clickhouse.query("SELECT {s:String} AS s, length({s:String}) AS n", {"s": text}).rows[0]
    assert row == (text, len(text.encode()))


def test_array_parameters_round_trip_exactly():
    assert clickhouse.query("SELECT {a:Array(String)}", {"a": TRICKY}).scalar() == TRICKY
    assert clickhouse.query("SELECT {a:Array(UInt64)}", {"a": [1, 2**63]}).scalar() == [1, 2**63]


def test_datetimes_are_passed_and_returned_in_utc():
    moment = datetime(2026, 3, 29, 1, 30, 15, 250000, tzinfo=timezone.utc)
    returned = clickhouse.query("SELECT {t:DateTime64(3, 'UTC')}", {"t": moment}).scalar()
    assert returned == moment
    with pytest.raises(ValueError):
        clickhouse.query("SELECT {t:DateTime64(3, 'UTC')}", {"t": datetime(2026, 1, 1)})


def test_engine_errors_surface_as_clickhouse_error():
    with pytest.raises(clickhouse.ClickHouseError):
        clickhouse.query("SELECT * FROM no_such_table")


def test_migrations_are_recorded_and_idempotent():
    assert migrations_apply() == []
    assert migrations_applied() == {m.version for m in migrations_available()}
    columns = dict(clickhouse.query("SELECT name, type FROM system.columns WHERE database = currentDatabase() AND table = 'events'").rows)
    for name in ["project_id", "event_id", "distinct_id", "page_url", "referrer", "user_agent", "ip_hash", "received_at", "person_key"]:
        assert name in columns
    sorting = clickhouse.query(
        "SELECT sorting_key, partition_key FROM system.tables WHERE database = currentDatabase() AND name = 'events'"
    ).rows[0]
    assert sorting[0].startswith("project_id")
    assert sorting[1] == "toYYYYMM(timestamp)"


def test_ch_migrate_command_reports_up_to_date():
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    call_command("ch_migrate", stdout=out)
    assert "up to date" in out.getvalue()


def test_a_second_process_gets_a_clear_refusal_not_a_hang():
    """This test process holds the chdb directory; another process must be told why it can't."""
    clickhouse.backend()
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "pulseboard.test_settings"}
    result = subprocess.run(
        [sys.executable, "manage.py", "ch_migrate"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode != 0
    assert f"The embedded ClickHouse at {settings.CHDB_PATH} is in use by PulseBoard process {os.getpid()}" in result.stderr
    assert "stop the running PulseBoard server" in result.stderr


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("clickhouse://u:p%40ss@ch.internal:9000/analytics", ("ch.internal", 9000, "u", "p@ss", "analytics", False)),
        ("clickhouses://ch", ("ch", 9440, "default", "", "default", True)),
    ],
)
def test_clickhouse_url_parsing(url, expected):
    a = parse_clickhouse_url(url)
    assert (a.host, a.port, a.user, a.password, a.database, a.secure) == expected


def test_clickhouse_url_must_name_the_scheme():
    with pytest.raises(ValueError, match="clickhouse://"):
        parse_clickhouse_url("http://ch:8123")


def test_waiting_for_deletes_sees_them_done_and_reports_one_that_fails():
    """A DELETE sent without waiting is waited for by mutations_wait; one that ClickHouse
    cannot apply is retried by it forever, so the wait raises with ClickHouse's reason."""
    clickhouse.command("CREATE TABLE IF NOT EXISTS scratch_mutations (k UInt64) ENGINE = MergeTree ORDER BY k")
    try:
        clickhouse.command("INSERT INTO scratch_mutations SELECT number FROM numbers(10)")
        clickhouse.command("DELETE FROM scratch_mutations WHERE k < 3 SETTINGS lightweight_deletes_sync = 0")
        clickhouse.mutations_wait(["scratch_mutations"])
        assert clickhouse.query("SELECT count() FROM scratch_mutations").scalar() == 7

        clickhouse.command("DELETE FROM scratch_mutations WHERE throwIf(k = 5, 'no deleting five') = 0 SETTINGS lightweight_deletes_sync = 0")
        with pytest.raises(clickhouse.ClickHouseError, match="no deleting five"):
            clickhouse.mutations_wait(["scratch_mutations"], timeout=30)
    finally:
        clickhouse.command("KILL MUTATION WHERE database = currentDatabase() AND table = 'scratch_mutations' SYNC")
        clickhouse.command("DROP TABLE IF EXISTS scratch_mutations SYNC")


def test_a_view_that_fails_fails_the_insert():
    """An insert writes its table and then those of its materialised views: a view that
    throws makes the insert raise (so the flush keeps the batch to insert again), and its
    table holds none of the rows."""
    clickhouse.command("CREATE TABLE IF NOT EXISTS view_source (n UInt64) ENGINE = MergeTree ORDER BY n")
    clickhouse.command("CREATE TABLE IF NOT EXISTS view_target_bad (n UInt64) ENGINE = MergeTree ORDER BY n")
    clickhouse.command(
        "CREATE MATERIALIZED VIEW IF NOT EXISTS view_bad TO view_target_bad AS SELECT n + throwIf(n = 2, 'view refused n = 2') AS n FROM view_source"
    )
    try:
        payload = b"\n".join(b'{"n": %d}' % n for n in range(5))
        with pytest.raises(clickhouse.ClickHouseError, match="view refused"):
            clickhouse.insert_json_each_row("view_source", ["n"], payload)
        assert clickhouse.query("SELECT count() FROM view_target_bad").scalar() == 0
    finally:
        for name in ("view_bad", "view_target_bad", "view_source"):
            clickhouse.command(f"DROP TABLE IF EXISTS {name}")
