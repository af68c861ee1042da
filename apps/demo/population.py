"""Deterministic, realistic product traffic for demos, tests and benchmarks: who visits the
demo shop (:mod:`apps.demo.catalog`), when, and what they do.

Pure: no database, no clock, no global randomness. The same arguments always give the
same rows, in the exact row format of the ingest path
(:data:`apps.ingest.validation.EVENT_COLUMNS`, timestamps as ClickHouse UTC text,
properties as compact JSON), so they can go straight into ``insert_json_each_row``.

The model, in short:

* a population of people: a base of existing users (some already customers) and new
  visitors arriving every day; each person has a power-law activity weight (a few heavy
  users, many light ones, most newcomers never come back) and one device (web, iOS or
  Android) with its user agent, country and IP;
* each local day of the project's timezone gets a share of the events from a weekly
  cycle (weekends about 40% lower), a slow growth trend and a little noise; within the
  day, session starts follow an hour-of-day curve;
* a session is a run of ``$pageview`` (web) or ``$screen`` (apps) events with some
  ``viewed_item``, ``clicked_cta`` and ``searched``, and, for people at that stage of the
  journey, ``signed_up`` → ``created_project`` → ``purchase``, each with drop-off;
* people are anonymous (``anonymous_id`` only) until they sign up; from their
  ``signed_up`` event on, ``user_id`` is set and is the ``distinct_id``, and the anonymous
  id rides along, which merges it into the user's person;
* some people also use a second device: once signed up, a share of their sessions start
  there anonymously (a new ``anonymous_id``) and log in after the first event, merging
  that device too;
* a few anonymous ids are ``undefined`` (a client that sends no id): those visitors count
  as one person, and their sign-ups are not merged (an ingestion warning says so);
* the sign-up, each purchase and the first identified event of a session set the person's
  ``plan`` and ``country`` (``$set``), as an SDK's identify does.
"""

from __future__ import annotations

import random
from bisect import bisect_right
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from itertools import accumulate, chain
from math import log
from typing import Any, Iterator, Sequence
from zoneinfo import ZoneInfo

import orjson

from apps.demo.catalog import (
    ACTIVATION_EVENT,
    BROWSE_KINDS,
    BUTTONS,
    CAMPAIGNS,
    CATEGORIES,
    COUNTRIES,
    DEVICES,
    HOUR_WEIGHTS,
    PAGES,
    PAGEVIEW_EVENT,
    PLANS,
    PURCHASE_EVENT,
    REFERRERS,
    SCREENS,
    SCREEN_EVENT,
    SEARCHES,
    SIGNUP_EVENT,
    SIGNUP_METHODS,
    SITE,
    TEMPLATES,
    WEEKDAY_WEIGHTS,
)
from apps.ingest.devices import user_agent_parse

__all__ = ["traffic_chunks", "traffic_rows"]

BASE_SHARE = 0.35  # of the people: already around when the period starts
BOUNCER_SHARE = 0.6  # of the newcomers: hardly ever come back
# Journey stages and the chance, per session, to move on (first session, later ones).
ANONYMOUS, SIGNED_UP, ACTIVATED, PAYING = 0, 1, 2, 3
SIGNUP_CHANCE = (0.06, 0.03)
ACTIVATION_CHANCE = (0.5, 0.25)  # in the signup session, in a later one
PURCHASE_CHANCE = 0.12
UPGRADE_CHANCE = 0.002
# How far each person would ever go, however often they come back: the funnel's drop-off.
CEILINGS = ((SIGNED_UP, 40), (ACTIVATED, 35), (PAYING, 25))
# Stages of the base people when the period starts.
BASE_STAGES = ((ANONYMOUS, 62), (SIGNED_UP, 8), (ACTIVATED, 10), (PAYING, 20))

# Of the people: those with a second device, and those whose client sends no anonymous id.
SECOND_DEVICE_SHARE = 0.3
SECOND_DEVICE_SESSIONS = 0.35  # of a signed-up person's sessions, on the second device
UNDEFINED_ID_SHARE = 0.005
UNDEFINED_ID = "undefined"

MAX_SESSION_EVENTS = 40
IP_POOL_SIZE = 400
HOUR_MS = 3_600_000

_UUID_CLEAR = ((1 << 128) - 1) ^ ((0xF << 76) | (0x3 << 62))
_UUID_V4 = (0x4 << 76) | (0x2 << 62)


def _table(pairs: Sequence[tuple[Any, float]], size: int = 1000) -> tuple[Any, ...]:
    """A lookup table: ``table[int(random() * len(table))]`` picks by weight, cheaply."""
    total = sum(weight for _, weight in pairs)
    table: list[Any] = []
    for value, weight in pairs:
        table.extend([value] * round(size * weight / total))
    return tuple(table)


def _json_tail(props: dict[str, Any]) -> str:
    """``{"a":1}`` as ``,"a":1}``: appended to an open object of someone's own properties."""
    return "," + orjson.dumps(props).decode()[1:]


def _apportion(weights: Sequence[float], total: int) -> list[int]:
    """Split ``total`` into integers proportional to ``weights`` (largest remainder)."""
    weight_sum = sum(weights)
    if total <= 0 or weight_sum <= 0:
        return [0] * len(weights)
    quotas = [total * w / weight_sum for w in weights]
    shares = [int(q) for q in quotas]
    by_remainder = sorted(range(len(weights)), key=lambda i: (shares[i] - quotas[i], i))
    for i in by_remainder[: total - sum(shares)]:
        shares[i] += 1
    return shares


_LANDING = _table([(SITE + path, w) for path, w, _ in PAGES if w])
_NEXT_PAGE = _table([(SITE + path, w) for path, _, w in PAGES])
_SCREENS = _table([(_json_tail({"screen": name}), w) for name, w in SCREENS])
_REFERRERS = _table(REFERRERS)
_COUNTRIES = _table(COUNTRIES)
_DEVICES = _table([(i, weight) for i, (_, _, weight, _) in enumerate(DEVICES)])
# Per device: its browser, OS and device type, as ingest parses them from its user agent.
_DEVICE_COLUMNS = [user_agent_parse(user_agent) for _, _, _, user_agent in DEVICES]
_BROWSE = _table(BROWSE_KINDS, 100)
_BUTTONS = _table([(_json_tail({"button": b}), w) for b, w in BUTTONS])
_SIGNUP_METHODS = _table([(_json_tail({"method": m}), w) for m, w in SIGNUP_METHODS])
_TEMPLATES = _table([(_json_tail({"template": t}), w) for t, w in TEMPLATES])
_PLANS = _table([((p, _json_tail({"amount": price, "currency": "USD"})), w) for p, price, w in PLANS])
_BASE_STAGES = _table(BASE_STAGES, 100)
_CEILINGS = _table(CEILINGS, 100)
# (page of the item, its properties): 60 items in 8 categories.
_ITEMS = tuple(
    (
        f"{SITE}/products/sku-{1000 + i}",
        _json_tail({"item_id": f"sku-{1000 + i}", "category": CATEGORIES[i % 8], "price": float(5 + (i * 37) % 240)}),
    )
    for i in range(60)
)
_SEARCH_URL = SITE + "/search"
_SIGNUP_URL = SITE + "/signup"
_ONBOARDING_URL = SITE + "/app/onboarding"
_CHECKOUT_URL = SITE + "/checkout"


@dataclass(frozen=True)
class _Slot:
    """A stretch of one local hour that lies inside the period, in epoch milliseconds."""

    start_ms: int
    end_ms: int
    weight: float


class _Population:
    """Everyone who visits during the period, ordered by when they are first eligible."""

    def __init__(self, rng: random.Random, *, size: int, base: int):
        getrandbits, rand = rng.getrandbits, rng.random
        ips = [f"{getrandbits(128):032x}" for _ in range(IP_POOL_SIZE)]
        self.weights: list[float] = []
        self.anonymous_ids: list[str] = []
        self.second_ids: list[str] = []  # a second device's anonymous id, or ""
        self.user_ids: list[str] = []
        self.devices: list[int] = []
        self.countries: list[str] = []
        self.ips: list[str] = []
        self.stages: list[int] = []
        self.ceilings: list[int] = []
        self.plans: list[str] = []
        self.sessions: list[int] = []  # sessions so far, to tell a first visit from a return
        self.props: list[str] = []  # the person's own properties as an open JSON object
        for index in range(size):
            weight = min(rng.paretovariate(1.2), 25.0)
            if index >= base and rand() < BOUNCER_SHARE:
                weight *= 0.03
            self.weights.append(weight)
            self.anonymous_ids.append(_uuid4(getrandbits(128)) if rand() >= UNDEFINED_ID_SHARE else UNDEFINED_ID)
            self.second_ids.append(_uuid4(getrandbits(128)) if rand() < SECOND_DEVICE_SHARE else "")
            self.user_ids.append(f"usr_{getrandbits(48):012x}")
            self.devices.append(_DEVICES[int(rand() * len(_DEVICES))])
            self.countries.append(_COUNTRIES[int(rand() * len(_COUNTRIES))])
            self.ips.append(ips[int(rand() * IP_POOL_SIZE)])
            stage = _BASE_STAGES[int(rand() * len(_BASE_STAGES))] if index < base else ANONYMOUS
            self.stages.append(stage)
            self.ceilings.append(max(stage, _CEILINGS[int(rand() * len(_CEILINGS))]))
            self.plans.append("" if stage == ANONYMOUS else _PLANS[int(rand() * len(_PLANS))][0] if stage == PAYING else "free")
            self.sessions.append(1 if index < base else 0)
            self.props.append(self.props_text(index))
        self.cumulative = list(accumulate(self.weights))

    def props_text(self, person: int) -> str:
        props: dict[str, Any] = {"country": self.countries[person], **DEVICES[self.devices[person]][1]}
        if self.plans[person]:
            props["plan"] = self.plans[person]
        return orjson.dumps(props).decode()[:-1]

    def set_text(self, person: int) -> str:
        """``,"$set":{...}}``: the person's properties as an identify call sends them, closing
        the event's properties."""
        return f',"$set":{{"plan":"{self.plans[person]}","country":"{self.countries[person]}"}}}}'


def _uuid4(bits: int) -> str:
    text = "%032x" % ((bits & _UUID_CLEAR) | _UUID_V4)
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def _days(start_ms: int, end_ms: int, zone: ZoneInfo) -> list[tuple[date, list[_Slot]]]:
    """The local days that overlap the period, each with its hour slots inside the period.

    Every day counts 24 hours from local midnight, DST changes included: close enough here.
    """
    first = datetime.fromtimestamp(start_ms / 1000, zone).date()
    last = datetime.fromtimestamp((end_ms - 1) / 1000, zone).date()
    days = []
    day = first
    while day <= last:
        midnight = int(datetime(day.year, day.month, day.day, tzinfo=zone).timestamp() * 1000)
        slots = []
        for hour, weight in enumerate(HOUR_WEIGHTS):
            lo, hi = max(midnight + hour * HOUR_MS, start_ms), min(midnight + (hour + 1) * HOUR_MS, end_ms)
            if hi > lo:
                slots.append(_Slot(lo, hi, weight * (hi - lo) / HOUR_MS))
        if slots:
            days.append((day, slots))
        day += timedelta(days=1)
    return days


_MINUTE_SECOND = tuple(f"{m:02d}:{s:02d}." for m in range(60) for s in range(60))
_MILLIS = tuple(f"{ms:03d}" for ms in range(1000))


class _Clock:
    """Epoch milliseconds to ClickHouse UTC text: table lookups, the date and hour cached."""

    def __init__(self) -> None:
        self._hours: dict[int, str] = {}

    def text(self, ms: int) -> str:
        hour, rest = divmod(ms, HOUR_MS)
        prefix = self._hours.get(hour)
        if prefix is None:
            prefix = self._hours[hour] = datetime.fromtimestamp(hour * 3600, timezone.utc).strftime("%Y-%m-%d %H:")
        return prefix + _MINUTE_SECOND[rest // 1000] + _MILLIS[rest % 1000]


def traffic_chunks(
    *,
    project_id: int,
    start: datetime,
    end: datetime,
    events: int,
    users: int | None = None,
    seed: int = 0,
    timezone_name: str = "America/New_York",
    signups: float = 1.0,
) -> Iterator[list[dict[str, Any]]]:
    """Yield rows for ``[start, end)``, one list per local day, exactly ``events`` in all.

    ``users`` is about how many distinct people show up over the period (default
    ``events // 100``); ``signups`` scales the chance that an anonymous visitor signs up in
    a session (and so how many persons merge ids). Rows within a day come session by session, sessions in order of
    their start.
    """
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("start and end must be timezone-aware")
    if end <= start:
        raise ValueError("end must be after start")
    if events < 0:
        raise ValueError("events must not be negative")
    if events == 0:
        return
    rng = random.Random(seed)
    start_ms = int(start.timestamp() * 1000)
    end_ms = int(end.timestamp() * 1000)
    days = _days(start_ms, end_ms, ZoneInfo(timezone_name))
    people = max(1, users if users is not None else events // 100)
    base = max(1, round(people * BASE_SHARE))
    population = _Population(rng, size=people, base=base)

    day_weights = []
    for index, (day, slots) in enumerate(days):
        trend = 1 + 0.01 * index
        day_weights.append(WEEKDAY_WEIGHTS[day.weekday()] * trend * rng.uniform(0.92, 1.08) * sum(s.weight for s in slots))
    budgets = _apportion(day_weights, events)
    arrivals = _apportion([float(b) for b in budgets], people - base)

    writer = _Writer(rng, population, project_id=project_id, end_ms=end_ms, signups=signups)
    eligible = base
    for (_, slots), budget, arriving in zip(days, budgets, arrivals):
        newcomers = range(eligible, eligible + arriving)
        eligible += arriving
        if budget:
            yield writer.day(slots=slots, budget=budget, newcomers=newcomers, eligible=eligible)


def traffic_rows(**kwargs: Any) -> Iterator[dict[str, Any]]:
    """The rows of :func:`traffic_chunks` one by one (same keyword arguments)."""
    return chain.from_iterable(traffic_chunks(**kwargs))


class _Writer:
    """Turns the sessions of one day into rows; holds the people's journey state."""

    def __init__(self, rng: random.Random, population: _Population, *, project_id: int, end_ms: int, signups: float = 1.0):
        self.rng = rng
        self.signup_chance = tuple(chance * signups for chance in SIGNUP_CHANCE)
        self.people = population
        self.project_id = project_id
        self.last_ms = end_ms - 1
        self.clock = _Clock()

    def day(self, *, slots: list[_Slot], budget: int, newcomers: range, eligible: int) -> list[dict[str, Any]]:
        """Plan the day's sessions (newcomers first, then returns by weight) and write them."""
        rand, expovariate = self.rng.random, self.rng.expovariate
        slot_cumulative = list(accumulate(s.weight for s in slots))
        slot_total = slot_cumulative[-1]
        cumulative = self.people.cumulative
        weight_total = cumulative[eligible - 1]

        def session_start() -> int:
            slot = slots[min(bisect_right(slot_cumulative, rand() * slot_total), len(slots) - 1)]
            return slot.start_ms + int(rand() * (slot.end_ms - slot.start_ms))

        sessions: list[tuple[int, int, int]] = []
        remaining = budget
        people = iter(newcomers)
        while remaining > 0:
            person = next(people, None)
            if person is None:
                person = min(bisect_right(cumulative, rand() * weight_total, 0, eligible), eligible - 1)
            length = min(1 + int(expovariate(0.2)), MAX_SESSION_EVENTS, remaining)
            sessions.append((session_start(), person, length))
            remaining -= length
        sessions.sort()
        rows: list[dict[str, Any]] = []
        for started_ms, person, length in sessions:
            self.session(rows, person=person, started_ms=started_ms, length=length)
        return rows

    def session(self, rows: list[dict[str, Any]], *, person: int, started_ms: int, length: int) -> None:
        """Append one session's ``length`` events for ``person``."""
        rng, people = self.rng, self.people
        rand, getrandbits = rng.random, rng.getrandbits
        source, _, _, user_agent = DEVICES[people.devices[person]]
        browser, os_name, device_type = _DEVICE_COLUMNS[people.devices[person]]
        country = people.countries[person]
        web = source == "web"
        first_visit = people.sessions[person] == 0
        people.sessions[person] += 1

        # Where in this session the journey moves on, if it does: position -> step.
        steps: dict[int, str] = {}
        stage = people.stages[person]
        ceiling = people.ceilings[person]
        position = 1
        if stage == ANONYMOUS and length >= 3 and rand() < self.signup_chance[0 if first_visit else 1]:
            position = 2 + int(rand() * (length - 2))
            steps[position] = SIGNUP_EVENT
            stage = SIGNED_UP
        if stage == SIGNED_UP and ceiling >= ACTIVATED and position < length - 1:
            if rand() < ACTIVATION_CHANCE[0 if steps else 1]:
                position += 1 + int(rand() * (length - 1 - position))
                steps[position] = ACTIVATION_EVENT
        elif stage == ACTIVATED and ceiling == PAYING and length >= 2 and rand() < PURCHASE_CHANCE:
            steps[1 + int(rand() * (length - 1))] = PURCHASE_EVENT
        elif stage == PAYING and length >= 2 and rand() < UPGRADE_CHANCE:
            steps[1 + int(rand() * (length - 1))] = PURCHASE_EVENT

        project_id = self.project_id
        anonymous_id = people.anonymous_ids[person]
        identified = people.stages[person] != ANONYMOUS
        user_id = people.user_ids[person] if identified else ""
        log_in_at = 0  # the event at which a session on the second device logs in
        if identified and people.second_ids[person] and rand() < SECOND_DEVICE_SESSIONS:
            anonymous_id, user_id, log_in_at = people.second_ids[person], "", 1
        distinct_id = user_id or anonymous_id
        # The event that identifies the session (its first if logged in, else the log-in)
        # sets the person's properties, as SDKs send them with identify.
        set_at = log_in_at or (0 if user_id else -1)
        props = people.props[person]
        closed_props = props + "}"
        session_id = _uuid4(getrandbits(128))
        referrer = _REFERRERS[int(rand() * len(_REFERRERS))] if web else ""
        ip_hash = people.ips[person]
        page_url = _LANDING[int(rand() * len(_LANDING))] if web else ""
        if referrer in CAMPAIGNS:
            page_url += "?" + CAMPAIGNS[referrer]
        last_ms = self.last_ms
        clock_text = self.clock.text
        next_page, browse, screens = _NEXT_PAGE, _BROWSE, _SCREENS
        n_next, n_browse, n_screens = len(next_page), len(browse), len(screens)
        now_ms = started_ms

        for index in range(length):
            if index:
                now_ms += 1500 + int(-40_000 * log(1.0 - rand()))  # exponential gaps, mean 40 s
                if now_ms > last_ms:  # never past the end of the period
                    now_ms = last_ms
                if index == log_in_at:  # logged in on the second device: its id merges
                    user_id = distinct_id = people.user_ids[person]
            step = steps.get(index)
            if step is None:
                kind = "page" if index == 0 else browse[int(rand() * n_browse)]
                if kind == "page":
                    if web:
                        event = PAGEVIEW_EVENT
                        if index:
                            page_url = next_page[int(rand() * n_next)]
                        properties = closed_props
                    else:
                        event = SCREEN_EVENT
                        properties = props + screens[int(rand() * n_screens)]
                elif kind == "viewed_item":
                    event = kind
                    item_url, tail = _ITEMS[int(rand() * len(_ITEMS))]
                    if web:
                        page_url = item_url
                    properties = props + tail
                elif kind == "clicked_cta":
                    event = kind
                    properties = props + _BUTTONS[int(rand() * len(_BUTTONS))]
                else:
                    event = kind
                    query = SEARCHES[int(rand() * len(SEARCHES))]
                    if web:
                        page_url = _SEARCH_URL
                    properties = f'{props},"query":"{query}","results":{int(rand() * 120)}}}'
            elif step == SIGNUP_EVENT:
                event = step
                people.stages[person] = SIGNED_UP
                people.plans[person] = "free"
                props = people.props[person] = people.props_text(person)
                closed_props = props + "}"
                user_id = distinct_id = people.user_ids[person]
                if web:
                    page_url = _SIGNUP_URL
                properties = props + _SIGNUP_METHODS[int(rand() * len(_SIGNUP_METHODS))]
            elif step == ACTIVATION_EVENT:
                event = step
                people.stages[person] = ACTIVATED
                if web:
                    page_url = _ONBOARDING_URL
                properties = props + _TEMPLATES[int(rand() * len(_TEMPLATES))]
            else:
                event = step
                plan, tail = _PLANS[int(rand() * len(_PLANS))]
                if web:
                    page_url = _CHECKOUT_URL
                people.stages[person] = PAYING
                people.plans[person] = plan
                props = people.props[person] = people.props_text(person)
                closed_props = props + "}"
                properties = props + tail  # the person's properties carry the plan bought
            if index == set_at or step == SIGNUP_EVENT or step == PURCHASE_EVENT:
                properties = properties[:-1] + people.set_text(person)
            timestamp = clock_text(now_ms)
            bits = "%032x" % ((getrandbits(128) & _UUID_CLEAR) | _UUID_V4)  # _uuid4, inlined
            rows.append(
                {
                    "project_id": project_id,
                    "event_id": f"{bits[:8]}-{bits[8:12]}-{bits[12:16]}-{bits[16:20]}-{bits[20:]}",
                    "event": event,
                    "timestamp": timestamp,
                    "distinct_id": distinct_id,
                    "user_id": user_id,
                    "anonymous_id": anonymous_id,
                    "session_id": session_id,
                    "source": source,
                    "page_url": page_url,
                    "referrer": referrer,
                    "user_agent": user_agent,
                    "ip_hash": ip_hash,
                    "properties": properties,
                    "received_at": timestamp,
                    "browser": browser,
                    "os": os_name,
                    "device_type": device_type,
                    "country": country,
                }
            )
