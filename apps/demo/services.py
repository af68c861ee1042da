"""Writes of the demo data: its traffic into ClickHouse, the demo login, its project and funnels."""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

import orjson
from django.conf import settings
from django.contrib.auth import get_user_model

from apps.demo.catalog import ACTIVATION_EVENT, PAGEVIEW_EVENT, PURCHASE_EVENT, SIGNUP_EVENT
from apps.demo.population import traffic_chunks
from apps.funnels.models import Funnel
from apps.funnels.services import funnel_create
from apps.ingest.services import event_definitions_update
from apps.ingest.sql import EVENTS_TABLE
from apps.ingest.validation import EVENT_COLUMNS
from apps.persons.services import persons_reidentify
from apps.projects.models import Project
from apps.projects.services import user_bootstrap
from pulseboard import clickhouse, embedded

DEMO_USERNAME = "demo"
DEMO_PROJECT_NAME = "Demo Shop"
DEMO_TIMEZONE = "America/New_York"


_ROW_START = b'{"project_id":'


def json_each_row(rows: list[dict[str, Any]]) -> bytes:
    """Rows as newline-separated JSON objects; every row's first key must be ``project_id``.

    One ``orjson.dumps`` of the whole list is several times faster than one per row here
    (far fewer allocations). ``,{"project_id":`` only occurs between rows: inside a JSON
    string the quote would be escaped.
    """
    return orjson.dumps(rows)[1:-1].replace(b"," + _ROW_START, b"\n" + _ROW_START)


class _Batch:
    """Serialised rows waiting for their insert, with the first and last time of each event name."""

    def __init__(self, project_id: int):
        self.project_id = project_id
        self.pieces: list[bytes] = []
        self.size = 0
        self.catalog: dict[str, list[str]] = {}

    def add(self, rows: list[dict[str, Any]]) -> None:
        self.pieces.append(json_each_row(rows))
        self.size += len(rows)
        catalog = self.catalog
        for row in rows:
            name, ts = row["event"], row["timestamp"]
            seen = catalog.get(name)
            if seen is None:
                catalog[name] = [ts, ts]
            elif ts < seen[0]:
                seen[0] = ts
            elif ts > seen[1]:
                seen[1] = ts

    def insert(self) -> None:
        """ONE insert for the whole batch."""
        clickhouse.insert_json_each_row(EVENTS_TABLE, EVENT_COLUMNS, b"\n".join(self.pieces))
        self.pieces = []

    def catalog_update(self) -> None:
        event_definitions_update(seen={(self.project_id, name): seen for name, seen in self.catalog.items()})


def events_seed(
    *,
    project_id: int,
    days: int,
    events: int,
    seed: int = 0,
    end: datetime | None = None,
    batch_size: int = 200_000,
    progress: Callable[[int], Any] | None = None,
    signups: float = 1.0,
) -> int:
    """Write ``events`` generated events over the ``days`` before ``end`` (default now);
    ``signups`` scales how often visitors sign up (see :func:`traffic_chunks`).

    The traffic follows the project's timezone (see :mod:`apps.demo.population`). Each batch
    of ``batch_size`` events is one ClickHouse insert; ``progress(n)`` is called after each
    with the number of events it wrote. Returns the number of events written. Raises
    ``Project.DoesNotExist`` for an unknown project.
    """
    if days < 1:
        raise ValueError("days must be at least 1")
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    project = Project.objects.get(id=project_id)
    now = datetime.now(timezone.utc)
    end = now if end is None else end
    if end.tzinfo is None:
        raise ValueError("end must be timezone-aware")
    if end > now:
        raise ValueError("end must not be in the future")

    written = 0
    batch = _Batch(project_id)
    inserting: tuple[Future[None], _Batch] | None = None

    def settle() -> None:
        """Wait for the insert in flight; then catalog (on this thread's DB connection) and report it."""
        nonlocal written, inserting
        if inserting is None:
            return
        future, done = inserting
        inserting = None
        future.result()
        done.catalog_update()
        # The batch's own size, not the insert's count: on chdb that includes the rows
        # its materialised views wrote.
        written += done.size
        if progress is not None:
            progress(done.size)

    chunks = traffic_chunks(
        project_id=project_id,
        start=end - timedelta(days=days),
        end=end,
        events=events,
        seed=seed,
        timezone_name=project.timezone,
        signups=signups,
    )
    # Each insert runs on a worker thread while the next batch is generated here: chdb
    # releases the GIL, so on two cores this takes close to half the time.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="seed-insert") as pool:

        def submit(full: _Batch) -> None:
            nonlocal inserting
            settle()
            inserting = (pool.submit(full.insert), full)

        try:
            for rows in chunks:
                while rows:
                    room = batch_size - batch.size
                    batch.add(rows[:room] if len(rows) > room else rows)
                    rows = rows[room:]
                    if batch.size >= batch_size:
                        submit(batch)
                        batch = _Batch(project_id)
            if batch.size:
                submit(batch)
            settle()
        finally:
            if inserting is not None:  # failed above: still catalog a batch that made it in
                with suppress(Exception):
                    settle()
    if written:
        # Written straight to ClickHouse, not through the flush: decide the merges here.
        persons_reidentify(project_id=project_id)
    return written


# The generated password of the demo login, kept under var/ so that every start prints it.
DEMO_PASSWORD_FILE = "demo_password"
DEMO_PASSWORD_BYTES = 12  # 16 characters
# Older versions kept 64 characters in that file and used its first 16 as the password.
_OLD_PASSWORD_FILE_LENGTH, _OLD_PASSWORD_LENGTH = 64, 16


def _demo_password_path():
    return settings.VAR_DIR / DEMO_PASSWORD_FILE


def demo_password_stored() -> str | None:
    """The generated demo password, if one was made (the file holds exactly the password)."""
    path = _demo_password_path()
    if not path.exists():
        return None
    text = path.read_text().strip()
    if len(text) == _OLD_PASSWORD_FILE_LENGTH:  # written by an older version: keep what it used
        text = text[:_OLD_PASSWORD_LENGTH]
        path.write_text(text)
    return text


def demo_password_generate() -> str:
    """The generated demo password, made (and kept in ``var/demo_password``) on first use."""
    return demo_password_stored() or embedded.local_secret(settings.VAR_DIR, DEMO_PASSWORD_FILE, nbytes=DEMO_PASSWORD_BYTES)


@dataclass(frozen=True)
class DemoProject:
    project: Project
    username: str
    password: str | None  # None: kept as it was, and not known here
    created: bool


def demo_project_ensure(*, password: str | None = None) -> DemoProject:
    """The demo login and its "Demo Shop" project (America/New_York), created once.

    ``password`` is applied when given (``--password``, ``DEMO_PASSWORD``). Otherwise a new
    demo login gets the generated one (:func:`demo_password_generate`) and an existing one
    keeps its own, so that restarting the server never logs the demo user out. The demo
    user is staff (the admin shows it the demo's funnels) and never a superuser.
    """
    exists = get_user_model().objects.filter(username=DEMO_USERNAME).exists()
    if password is None and not exists:
        password = demo_password_generate()
    result = user_bootstrap(
        username=DEMO_USERNAME, password=password, project_name=DEMO_PROJECT_NAME, key_label="seed_demo", superuser=False
    )
    project = result.project
    if result.created_project and project.timezone != DEMO_TIMEZONE:
        project.timezone = DEMO_TIMEZONE
        project.full_clean()
        project.save(update_fields=["timezone", "updated_at"])
    shown = password if password is not None else demo_password_stored()
    return DemoProject(project=project, username=DEMO_USERNAME, password=shown, created=result.created_project)


DEMO_FUNNELS = (
    ("Signup → purchase", "From signing up to a first purchase.", (SIGNUP_EVENT, ACTIVATION_EVENT, PURCHASE_EVENT)),
    ("Visit → signup", "From a page view to signing up.", (PAGEVIEW_EVENT, "clicked_cta", SIGNUP_EVENT)),
)


def demo_funnels_ensure(*, project: Project) -> list[Funnel]:
    """The demo's two example funnels (7-day window), created once: a funnel of the project
    that already has the name is left as it is. Returns the funnels it created."""
    created = []
    for name, description, events in DEMO_FUNNELS:
        if Funnel.objects.filter(project=project, name=name).exists():
            continue
        created.append(
            funnel_create(
                project=project,
                name=name,
                description=description,
                steps=[{"event": event} for event in events],
                window_value=7,
                window_unit="days",
            )
        )
    return created
