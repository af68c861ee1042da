"""The flush's hooks: who wants to know that events were stored.

There are two, and apps above ingest subscribe to them in their ``AppConfig.ready()``, so
that ingest never imports them:

* :func:`written_subscribe`: called in the flush, after a batch is in ClickHouse and before
  it is settled. What must follow from the events, reliably, goes here (persons merge ids).
  If a receiver raises, the batch is not settled and is written again later, so a receiver
  must be idempotent: it may see the same batch twice.
* :func:`stored_subscribe`: the after-storage hook, once the batch is settled, best effort
  and never in the flush's way (the live feed; sessions, alerts or cache invalidation)::

    from apps.ingest.hooks import stored_subscribe
    stored_subscribe(name="live feed", receiver=live_broadcast)

A third hook, :func:`changed_subscribe`, hears of data that changed other than by a stored
batch: rows deleted (events, a person, retention, a whole project; see
:mod:`apps.ingest.deletion`). It is called at once, in the deleting process, with the
project's id; a receiver must be quick (dashboards bump a counter in Redis) and its failure
is logged, never raised into the deletion.

After a batch is in ClickHouse and settled, the flush hands it to :func:`stored_notify`,
which only puts it on each subscriber's queue. Every subscriber has its own thread and its
own bounded queue, so a slow or failing subscriber never holds up the flush, nor the other
subscribers. Delivery is best effort: when a subscriber's queue is full, its oldest batch
is dropped and a warning logged, and a process that stops loses what was queued. A
subscriber that must see every event reads ClickHouse instead.
"""

from __future__ import annotations

import logging
import queue
import threading
from dataclasses import dataclass
from typing import Callable

logger = logging.getLogger(__name__)

# Batches waiting per subscriber; beyond this the oldest is dropped.
QUEUE_BATCHES = 256


@dataclass(frozen=True)
class StoredRows:
    """The rows of one project that a batch stored, as ClickHouse JSON lines, in arrival order."""

    project_id: int
    count: int
    rows: bytes


Receiver = Callable[[list[StoredRows]], None]


class _Subscriber:
    def __init__(self, name: str, receiver: Receiver):
        self.name = name
        self.receiver = receiver
        self.queue: queue.Queue[list[StoredRows]] = queue.Queue(maxsize=QUEUE_BATCHES)
        self.thread: threading.Thread | None = None
        self.lock = threading.Lock()

    def offer(self, stored: list[StoredRows]) -> None:
        self._ensure_thread()
        while True:
            try:
                self.queue.put_nowait(stored)
                return
            except queue.Full:
                try:
                    self.queue.get_nowait()
                    logger.warning("after-storage hook %r is behind: dropped its oldest batch", self.name)
                except queue.Empty:
                    pass

    def _ensure_thread(self) -> None:
        # Started lazily, in the process that flushes (a forked worker child has no
        # threads of its parent).
        if self.thread is not None and self.thread.is_alive():
            return
        with self.lock:
            if self.thread is None or not self.thread.is_alive():
                self.thread = threading.Thread(target=self._run, name=f"hook:{self.name}", daemon=True)
                self.thread.start()

    def _run(self) -> None:
        while True:
            stored = self.queue.get()
            try:
                self.receiver(stored)
            except Exception:  # a subscriber's failure is its own; the next batch still goes
                logger.exception("after-storage hook %r failed", self.name)
            finally:
                self.queue.task_done()


_subscribers: dict[str, _Subscriber] = {}
_written: dict[str, Receiver] = {}


def written_subscribe(*, name: str, receiver: Receiver) -> None:
    """Call ``receiver`` with every batch the flush has written, before it is settled."""
    _written[name] = receiver


def written_notify(*, stored: list[StoredRows]) -> None:
    """Run every written-batch receiver, in the flush; an exception stops the batch's settle."""
    if not stored:
        return
    for receiver in list(_written.values()):
        receiver(stored)


def stored_subscribe(*, name: str, receiver: Receiver) -> None:
    """Call ``receiver`` with every stored batch, on a thread of its own. Subscribing a
    name twice replaces the receiver (``ready()`` may run more than once)."""
    _subscribers[name] = _Subscriber(name, receiver)


def stored_notify(*, stored: list[StoredRows]) -> None:
    """Queue a stored batch for every subscriber; returns at once."""
    if not stored:
        return
    for subscriber in list(_subscribers.values()):
        subscriber.offer(stored)


_changed: dict[str, Callable[[int], None]] = {}


def changed_subscribe(*, name: str, receiver: Callable[[int], None]) -> None:
    """Call ``receiver(project_id)`` whenever a project's stored rows change other than by a
    stored batch (a deletion). Subscribing a name twice replaces the receiver."""
    _changed[name] = receiver


def changed_notify(*, project_id: int) -> None:
    """Tell every changed-data receiver, now, that ``project_id``'s rows changed. A failing
    receiver is logged and the others still run."""
    for name, receiver in list(_changed.items()):
        try:
            receiver(project_id)
        except Exception:
            logger.exception("changed-data hook %r failed for project %s", name, project_id)
