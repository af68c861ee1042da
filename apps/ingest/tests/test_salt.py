"""The IP hash's daily salt: one per UTC day, shared by every process, gone after 48 hours."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest
import time_machine
from django.conf import settings
from django.db import connection

from apps.ingest import salt
from apps.ingest.models import IpSalt
from apps.ingest.services import ip_hash
from apps.ingest.tasks import prune_ip_salts

DAY = datetime(2026, 3, 10, 9, 30, tzinfo=timezone.utc)


@pytest.fixture(autouse=True)
def fresh_salts(request):
    """No salt in memory, and none in the database but the test's own: a server that an
    earlier test ran may have made today's salt outside any test's transaction."""
    salt.ip_salt_cache_clear()
    for name in ("transactional_db", "db"):
        if name in request.fixturenames:
            request.getfixturevalue(name)
            IpSalt.objects.all().delete()
            break
    yield
    salt.ip_salt_cache_clear()


def at(moment: datetime):
    return time_machine.travel(moment, tick=False)


def test_same_ip_same_day_same_hash(db):
    with at(DAY):
        first = ip_hash("198.51.100.7")
    with at(DAY.replace(hour=23, minute=59, second=59)):
        salt.ip_salt_cache_clear()  # as another process would: it reads the same row
        assert ip_hash("198.51.100.7") == first
    assert len(first) == 32
    assert ip_hash("") == ""


def test_other_ips_hash_differently(db):
    with at(DAY):
        assert ip_hash("198.51.100.7") != ip_hash("198.51.100.8")


def test_next_day_hashes_differently(db):
    with at(DAY):
        today = ip_hash("198.51.100.7")
    with at(DAY.replace(hour=0, minute=0, second=0) + timedelta(days=1)):
        tomorrow = ip_hash("198.51.100.7")
    assert tomorrow != today
    assert set(IpSalt.objects.values_list("day", flat=True)) == {date(2026, 3, 10), date(2026, 3, 11)}


def test_a_salt_is_random_not_derived_from_the_day(db):
    with at(DAY):
        first = salt.ip_salt_for_day(day=date(2026, 3, 10))
        IpSalt.objects.all().delete()
        second = salt.ip_salt_for_day(day=date(2026, 3, 10))
    assert len(first) == 64 and bytes.fromhex(first)
    assert second != first


def test_salts_are_deleted_48_hours_after_their_day_began(db):
    for offset in range(4):  # salts of the 10th, 11th, 12th and 13th
        with at(DAY + timedelta(days=offset)):
            salt.ip_salt_for_day(day=salt.utc_today())
    with at(datetime(2026, 3, 13, 0, 30, tzinfo=timezone.utc)):
        pruned = prune_ip_salts()  # the beat task
    # The 10th began 72.5 h ago and the 11th 48.5 h ago: gone. The 12th (24.5 h) is kept.
    assert pruned == 2
    assert sorted(IpSalt.objects.values_list("day", flat=True)) == [date(2026, 3, 12), date(2026, 3, 13)]


def test_salt_of_three_days_ago_is_gone_once_a_new_day_hashes(db):
    with at(DAY):
        old = ip_hash("198.51.100.7")
    old_salt = IpSalt.objects.get(day=date(2026, 3, 10)).salt
    with at(DAY + timedelta(days=3)):
        new = ip_hash("198.51.100.7")  # the first hash of the day prunes
    assert not IpSalt.objects.filter(day=date(2026, 3, 10)).exists()
    assert not IpSalt.objects.filter(salt=old_salt).exists()
    assert new != old
    assert list(IpSalt.objects.values_list("day", flat=True)) == [date(2026, 3, 13)]


def test_a_salt_outlives_its_day_by_a_day(db):
    with at(DAY):
        ip_hash("198.51.100.7")
    with at(datetime(2026, 3, 11, 23, 59, tzinfo=timezone.utc)):
        assert prune_ip_salts() == 0
    with at(datetime(2026, 3, 12, 0, 0, tzinfo=timezone.utc)):
        assert prune_ip_salts() == 1


def test_concurrent_processes_agree_on_the_day_salt(transactional_db):
    """Threads with their own database connections race to create the day's salt: one row,
    and every one of them hashes with it."""
    barrier = threading.Barrier(6)
    salts: list[str] = []
    errors: list[BaseException] = []

    def worker():
        try:
            barrier.wait(timeout=10)
            salts.append(salt.ip_salt_for_day(day=date(2026, 3, 10)))
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors
    assert len(salts) == 6 and len(set(salts)) == 1
    assert IpSalt.objects.filter(day=date(2026, 3, 10)).count() == 1
    with at(DAY):
        assert salt.ip_hash_key() == bytes.fromhex(salts[0]) + salt.settings.INGEST_IP_SALT.encode()


def test_the_pepper_changes_the_hash(db, settings):
    with at(DAY):
        plain = ip_hash("198.51.100.7")
        settings.INGEST_IP_SALT = "another pepper"
        salt.ip_salt_cache_clear()
        assert ip_hash("198.51.100.7") != plain


CHILD = """
import django, sys
django.setup()
from apps.ingest.services import ip_hash
print(ip_hash("198.51.100.7"))
"""


def test_separate_processes_agree_on_the_hash(transactional_db):
    """Processes of their own, on this run's test database, racing to make the day's salt,
    hash an address as this process does."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "pulseboard.test_settings",
        "DATABASE_URL": "postgres://{USER}@{HOST}:{PORT}/{name}".format(**settings.DATABASES["default"], name=settings.DATABASES["default"]["TEST"]["NAME"]),
    }
    children = [
        subprocess.Popen([sys.executable, "-c", CHILD], cwd=Path(__file__).resolve().parents[3], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(3)
    ]
    hashes = []
    for child in children:
        out, err = child.communicate(timeout=120)
        assert child.returncode == 0, err
        hashes.append(out.strip().splitlines()[-1])
    assert len(set(hashes)) == 1
    assert hashes[0] == ip_hash("198.51.100.7")
    assert IpSalt.objects.count() == 1
