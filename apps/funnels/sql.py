"""ClickHouse SQL of the funnel engine: one query per funnel, its breakdown included.

The semantics are the README's (``## Funnels``); ``tests/reference.py`` implements them
attempt by attempt, and the tests check this SQL against it. How the query gets there,
inside out:

1. **The events that can matter, packed** (:meth:`FunnelSQL.sources`). Step names that no
   step filters on are read from ``funnel_events`` (migration 0004): name, person, event
   id and ``order_key``, the time in milliseconds times 2^22 plus the first 22 bits of the
   event id, sorted by name first, so that a step's events are one range. Names that some
   step filters on (and, with a breakdown, those that can start an attempt) are read from
   ``events``, which has the properties. Ordered and strict funnels read only the people
   with a step-1 event in the range (``person_key IN``) when those events are few
   (:func:`starters_selective`); unordered attempts start at any step's event, so they
   read everyone. Strict funnels read every event of those people,
   since any other event between two steps breaks the chain. Each event becomes one Int64
   (:class:`Layout`): ``order_key`` relative to ``date_from``, shifted left, plus a mask
   with bit k-1 set when the event serves step k (name and filters; step 1 only inside the
   range) and, for unordered funnels, bit n set when the event can start an attempt
   (inside the range). A long span or many steps leave fewer id bits in it.

2. **Per person, in order** (:meth:`FunnelSQL.sorted`). ``groupArray`` and ``arraySort``
   of those numbers: sorting them sorts by time, then by the id bits, which is the order
   of the semantics (ties by event id) unless two events of a person share the millisecond
   and the id bits. Then the query flags the person ``ambiguous`` and the engine runs it
   again ``exact``: the ids themselves are grouped too and sorted by as well.

3. **Only what can change an attempt** (:meth:`FunnelSQL.collapsed`). In a run of events
   that serve one and the same single step, neighbours in time order, most events cannot
   change anything, and they are dropped (the funnel of a person with thousands of
   pageviews keeps a handful):

   * ordered: of a run of step-1 events only the last counts (the attempts from all of
     them reach the same events, and the last has the most window left); of a run of
     step-k events (k > 1) only the first (the only one a chain can take: a chain reaches
     the second only from the first, which does not serve step k-1). Events that serve no
     step never matter.
   * strict: each step-1 event and the n-1 events right after it, whatever they are: an
     attempt takes the events that follow its start one by one, and any other event
     breaks it, so no attempt looks further. (A person's thousands of pageviews reduce to
     a few events around each sign-up.)
   * unordered: the first and the last of such a run, the in-range bit included in "the
     same", so that a run is split at the end of the range: the first is the one that
     completes the step for any earlier start, the last the latest start.

4. **The attempts** (:meth:`FunnelSQL.people`). With ``T`` the times, ``M`` the masks and
   ``J`` the indexes, every array is aligned with the events (a lambda that looked another
   array up by an index would copy that array once per element):

   * ordered (:meth:`FunnelSQL._ordered`): ``L{k}[j]`` is the latest start whose chain
     takes event j as step k. A chain at step k-1 on event c takes the first event after c
     that serves step k, so j takes the chains whose step k-1 lies between the step-k event
     before j and j. Chains never cross, so the latest of them is the last one before j:
     ``arrayFill`` carries it on, and a step-k event resets it. It also has the most window
     left, so it alone is checked against the window.
   * strict: the chain from start j reaches step k when the events j..j+k-1 serve steps
     1..k within the window: masks and times shifted by k-1, compared element by element.
   * unordered: a reverse fill gives, at each event, the time of the first event at or
     after it that serves step k; the attempt from j completes step k when that is within
     the window, and its step times are its completions in time order.

   A person counts at the highest step reached, with the last start that reached it: its
   chain (followed again from the start for ordered funnels: ``N{k}[c + 1]`` is the first
   event after c that serves step k) gives the times, its event the breakdown value.

5. **Figures** (:meth:`FunnelSQL.query`). Each person gives one row per step reached, with
   the time from the previous step; grouped by step: the count, the average and the median
   (``quantileExactInclusive``: the mean of the two middle values for an even count). With
   a breakdown, each person counts in the total and in the group of their value, the 10
   values with the most people (window functions rank them) and ``$other``.
"""

from __future__ import annotations

from dataclasses import dataclass

from apps.query.persons import person_breakdown_join, person_keys_where, with_persons
from apps.query.sql import ID_BITS, property_filters, property_text

# funnel_events.order_key: milliseconds * 2**22 + the event id's first 22 bits.
ORDER_KEY = f"toUInt64(toUnixTimestamp64Milli(timestamp)) * {1 << ID_BITS} + bitShiftRight(reinterpretAsUInt64(event_id), {64 - ID_BITS})"


@dataclass(frozen=True)
class Layout:
    """How an event is packed into one Int64 for a funnel of ``n`` steps.

    ``(order_key - from_key) >> drop``, shifted left by ``mask_bits``, plus the mask: bit k-1
    set when the event serves step k, bit n when it can start an unordered attempt. Sorting
    the numbers sorts by time, then by the event id bits that are left (``22 - drop``), then
    by mask; the time span of the query decides how many id bits fit in 63 bits.
    """

    n: int
    drop: int
    span_bits: int

    @property
    def mask_bits(self) -> int:
        return self.n + 1

    @property
    def time_shift(self) -> int:
        """Shift a packed event right by this to get its milliseconds since ``date_from``."""
        return self.mask_bits + ID_BITS - self.drop

    @property
    def index_bits(self) -> int:
        """Bits left for an event's index beside its milliseconds since ``date_from``."""
        return 63 - self.span_bits

    @property
    def mask(self) -> int:
        return (1 << self.mask_bits) - 1

    @property
    def steps_mask(self) -> int:
        return (1 << self.n) - 1


def layout_for(n: int, span_ms: int) -> Layout:
    """The packing of a funnel of ``n`` steps over ``span_ms`` milliseconds."""
    span_bits = max(span_ms, 1).bit_length()
    need = span_bits + ID_BITS + n + 1
    return Layout(n=n, drop=min(ID_BITS, max(0, need - 63)), span_bits=span_bits)


# Ordered and strict funnels read only the people with a step-1 event in the range when
# those events are under this share of the events the funnel reads. Selecting the people
# costs a pass over the step-1 events and a look-up per event read; it pays when it leaves
# out many people. When step 1 is most of what is read (a funnel from `$pageview`), nearly
# everyone starts: on 10M events, `$pageview -> signed_up` took 323 ms with the selection
# and 206 without, the sign-up-first funnel 231 ms with it and 260 without.
STARTERS_SHARE = 0.2

# The events of a funnel's names (or of every name) in its scan, and those of step 1 in its
# range, from the 15-minute rollup: a few thousand rows, whatever the volume.
EVENT_SHARE = """
SELECT sumIf(events, event = {start_event:String} AND slot < toDateTime({date_to:DateTime64(3, 'UTC')})),
       sumIf(events, {all_names:Bool} OR event IN {names:Array(String)})
FROM event_counts_15m
WHERE project_id = {project_id:UInt64}
  AND slot >= toStartOfFifteenMinutes({date_from:DateTime64(3, 'UTC')}) AND slot < toDateTime({scan_to:DateTime64(3, 'UTC')})"""


def starters_selective(start_events: int, events: int) -> bool:
    """Whether reading only the people with a step-1 event in the range pays: their events
    (``start_events``) are a small share of the ``events`` the funnel reads."""
    return start_events < STARTERS_SHARE * events


_FROM = "{date_from:DateTime64(3, 'UTC')}"
_TO = "{date_to:DateTime64(3, 'UTC')}"
_SCAN_TO = "{scan_to:DateTime64(3, 'UTC')}"
_WINDOW = "{window_ms:Int64}"


class FunnelSQL:
    """The SQL of one funnel: ``FunnelSQL(steps, mode, layout, params, ...).query()``.

    Building it fills ``params`` with the values the SQL names. ``exact`` reads event ids and
    sorts by them; without it the packed numbers alone order the events, and the query
    reports (``ambiguous``) when that was not enough for someone.
    """

    def __init__(self, steps, mode: str, layout: Layout, params: dict, *, breakdown: str | None, exact: bool, only_starters: bool):
        """``breakdown``: None, ``"event"`` (a property of each attempt's first event) or
        ``"person"`` (a current property of the person: joined once per person at the end).
        ``only_starters``: read only the people with a step-1 event in the range (ordered
        and strict funnels; the figures are the same either way)."""
        self.steps, self.mode, self.layout, self.params = steps, mode, layout, params
        self.breakdown = breakdown == "event"
        self.person_breakdown = breakdown == "person"
        self.exact = exact
        self.only_starters = only_starters and mode != "unordered"
        self.n = len(steps)

    # --- 1. the events that can matter, packed -------------------------------------------

    def _packed(self, order_key: str, in_range: str, name_mask: str) -> str:
        lay = self.layout
        if self.mode == "unordered":
            # Unordered attempts start at any step's event inside the range: bit n says which.
            mask = f"{name_mask} + bitShiftLeft(toUInt64({in_range}), {self.n})"
        else:
            # Ordered and strict attempts start at a step-1 event inside the range.
            mask = f"bitAnd({name_mask}, if({in_range}, {lay.steps_mask}, {lay.steps_mask - 1}))"
        return f"bitShiftLeft(bitShiftRight({order_key} - {{from_key:UInt64}}, {{drop_bits:UInt8}}), {lay.mask_bits}) + {mask}"

    def sources(self) -> str:
        """Rows ``(person_key, key, value)``, and ``tie`` (the event id) when ``exact``.

        Step names that no step filters on come from ``funnel_events``; the others (and,
        with a breakdown, the names that can start an attempt) from ``events``, which holds
        the properties. Strict funnels read every event of the person: any event between
        two steps breaks the chain.
        """
        steps, mode, params = self.steps, self.mode, self.params
        names = [step.event for step in steps]
        start_names = set(names) if mode == "unordered" else {names[0]}
        with_properties = {step.event for step in steps if step.filters}
        if self.breakdown:
            with_properties |= start_names
        plain = sorted(set(names) - with_properties)
        params["plain_events"] = plain
        params["plain_masks"] = [sum(1 << i for i, name in enumerate(names) if name == event) for event in plain]
        params["property_events"] = sorted(with_properties)
        params["start_events"] = sorted(start_names)

        tie = ", toUInt128(event_id) AS tie" if self.exact else ""
        starters = ""
        if self.only_starters:
            # Only people with a step-1 event in the range can start an attempt, and every
            # key of theirs counts. (Unordered attempts start at any step's event: nearly
            # everyone read has one.)
            step_one_keys = """SELECT DISTINCT person_key FROM funnel_events
                             WHERE project_id = {project_id:UInt64} AND event IN {start_events:Array(String)}
                               AND order_key >= {from_key:UInt64} AND order_key < {to_key:UInt64}"""
            starters = "\n          AND " + person_keys_where(f"SELECT DISTINCT person FROM ({with_persons(step_one_keys)})")
        parts = []
        if plain or mode == "strict":
            names_sql = "\n          AND event IN {plain_events:Array(String)}"
            if mode == "strict":
                names_sql = "\n          AND event NOT IN {property_events:Array(String)}" if with_properties else ""
            name_mask = "toUInt64(transform(event, {plain_events:Array(String)}, {plain_masks:Array(UInt64)}, 0))"
            key = self._packed("order_key", "order_key < {to_key:UInt64}", name_mask)
            parts.append(f"""
        SELECT person_key, {key} AS key{tie}, '' AS value
        FROM funnel_events
        WHERE project_id = {{project_id:UInt64}} AND order_key >= {{from_key:UInt64}} AND order_key < {{scan_key:UInt64}}{names_sql}{starters}""")
        if with_properties:
            terms = []
            for i, step in enumerate(steps):
                if step.event in with_properties:
                    params[f"step_event_{i}"] = step.event
                    filters = property_filters(list(step.filters), params, prefix=f"s{i}_").replace("\n  AND", " AND")
                    terms.append(f"if(event = {{step_event_{i}:String}}{filters}, {1 << i}, 0)")
            name_mask = f"toUInt64({' + '.join(terms)})"
            key = self._packed(f"({ORDER_KEY})", f"timestamp < {_TO}", name_mask)
            value = "''"
            if self.breakdown:
                # Only the first event of an attempt gives the breakdown value.
                can_start = f"bitAnd(key, {self.layout.steps_mask}) != 0 AND bitTest(key, {self.n})" if mode == "unordered" else "bitTest(key, 0)"
                value = f"if({can_start}, {property_text('breakdown', self.params.get('breakdown'))}, '')"
            parts.append(f"""
        SELECT person_key, {key} AS key{tie}, {value} AS value
        FROM events
        WHERE project_id = {{project_id:UInt64}} AND timestamp >= {_FROM} AND timestamp < {_SCAN_TO}
          AND event IN {{property_events:Array(String)}}{starters}""")
        return "\n        UNION ALL".join(parts)

    # --- 2. per person, in order ------------------------------------------------------------

    def sorted(self) -> str:
        """Per person ``ks1``, the packed events in time order (ties by event id), ``vs1``
        their breakdown values, and ``ambiguous``.

        The events are gathered per key first, and the keys then per person (the ids
        merged into one: see apps/query/persons.py), so the join with the person overrides
        meets one row per key, not one per event."""
        mb = self.layout.mask_bits
        arrays = ["groupArray(key) AS ks0"]
        if self.exact:
            arrays.append("groupArray(tie) AS us0")
        if self.breakdown:
            arrays.append("groupArray(value) AS vs0")
        per_key = f"""
        SELECT person_key, {", ".join(arrays)}
        FROM
        ({self.sources()}
        )
        GROUP BY person_key"""
        flat = ", ".join(f"groupArrayArray({a.split(' AS ')[1]}) AS {a.split(' AS ')[1]}" for a in arrays)
        per_person = f"""
        SELECT person AS person_key, {flat}
        FROM ({with_persons(per_key)})
        GROUP BY person"""
        if self.exact:
            by = f"(bitShiftRight(k, {mb}), u)"
            values = f", arraySort((v, k, u) -> {by}, vs0, ks0, us0) AS vs1" if self.breakdown else ""
            return f"""
    SELECT person_key, arraySort((k, u) -> {by}, ks0, us0) AS ks1{values}
    FROM ({per_person}
    )"""
        values = ", arraySort((v, k) -> k, vs0, ks0) AS vs1" if self.breakdown else ""
        return f"""
    SELECT person_key, arraySort(ks0) AS ks1{values}
    FROM ({per_person}
    )"""

    def collapsed(self) -> str:
        """Per person ``ks`` (and ``vs``): the sorted events less those that cannot change
        what any attempt reaches (see the module docstring)."""
        lay, mode, bd = self.layout, self.mode, self.breakdown
        m, prev, nxt = (f"bitAnd({x}, {lay.mask})" for x in ("k", "p", "q"))
        steps = f"bitAnd(k, {lay.steps_mask})"
        if mode == "ordered":
            keep = f"{m} != 0 AND NOT ({m} = 1 AND {nxt} = 1) AND NOT (bitCount({m}) = 1 AND {m} != 1 AND {prev} = {m})"
        elif mode == "strict":
            keep = "near"
        else:
            keep = f"{steps} != 0 AND NOT ({prev} = {m} AND {nxt} = {m} AND bitCount({steps}) = 1)"
        # Two neighbours whose packed numbers differ only in the mask are in the same
        # millisecond with the same leading id bits: their order is unknown without the ids.
        # It matters when their masks differ (or their breakdown values might), and, but
        # for strict funnels, only between events that serve a step.
        ambiguous = "0"
        if not self.exact:
            same = f"bitShiftRight(p, {lay.mask_bits}) = bitShiftRight(k, {lay.mask_bits})"
            if not bd:
                same += " AND p != k"
            if mode != "strict":
                same += f" AND bitAnd(p, {lay.steps_mask}) != 0 AND {steps} != 0"
            ambiguous = f"arrayExists((p, k) -> {same}, prevs, ks1)"
        # The neighbours come from the array shifted by one; a missing one is all mask bits,
        # which no event of a run has.
        columns = [f"arrayShiftRight(ks1, 1, toInt64({lay.mask})) AS prevs"]
        if mode == "strict":
            # A strict attempt takes a step-1 event and the n-1 events right after it, and
            # looks at nothing else: ``nears`` flags those.
            flags = [f"s{i}" for i in range(self.n)]
            shifted = "".join(f", arrayShiftRight(starts, {i})" for i in range(1, self.n))
            columns.append("arrayMap(k -> toUInt8(bitTest(k, 0)), ks1) AS starts")
            columns.append(f"arrayMap(({', '.join(flags)}) -> {' OR '.join(flags)}, starts{shifted}) AS nears")
            args, lists = "k, near", "ks1, nears"
        else:
            columns.append(f"arrayShiftLeft(ks1, 1, toInt64({lay.mask})) AS nexts")
            args, lists = "k, p, q", "ks1, prevs, nexts"
        return f"""
    SELECT person_key, {ambiguous} AS ambiguous,
           arrayFilter(({args}) -> {keep}, {lists}) AS ks{f", arrayFilter((v, {args}) -> {keep}, vs1, {lists}) AS vs" if bd else ""}
    FROM
    (
        SELECT *, {", ".join(columns)}
        FROM ({self.sorted()})
    )"""

    # --- 3. the attempts ---------------------------------------------------------------------
    #
    # Over ``T`` (milliseconds since date_from), ``M`` (masks) and ``J`` (1, 2, ...), every
    # array aligned with the events: no lambda looks an array up by an index, which would
    # copy that array once per element.

    def _ordered(self) -> tuple[list[str], list[str], str]:
        """``L{k}[j]``: the latest start whose chain takes event j as step k, packed as its
        time times 2^index_bits plus its index (0 if none).

        A chain at step k-1 on event c takes, as step k, the first event after c that
        serves k: so j takes the chains whose step k-1 lies at or after the step-k event
        before j. Chains never cross (a later start stays at or after an earlier one at
        every step), so the latest of them is the last one found before j, which
        ``arrayFill`` carries on until a step-k event resets it (-1); it has the most window
        left: if it is out of the window at j, so are the others."""
        ib = "{index_bits:UInt8}"
        exprs = [f"arrayMap((m, t, j) -> if(bitTest(m, 0), bitShiftLeft(t, {ib}) + j, 0), M, T, J) AS L1"]
        for k in range(2, self.n + 1):
            exprs += [
                f"arrayShiftRight(arrayFill(x -> x != 0, arrayMap((l, m) -> if(l > 0, l, -bitTest(m, {k - 1})), L{k - 1}, M)), 1) AS F{k}",
                f"arrayMap((m, t, f) -> if(bitTest(m, {k - 1}) AND f > 0 AND t - bitShiftRight(f, {ib}) <= {_WINDOW}, f, 0), M, T, F{k}) AS L{k}",
            ]
        exprs += [f"arrayMax(L{k}) AS B{k}" for k in range(1, self.n + 1)]
        # The attempt that counts: the latest start of the highest step reached. Its chain is
        # followed again from the start, step by step: ``N{k}[c + 1]`` is the first event
        # after c that serves step k.
        then = [f"multiIf({', '.join(f'B{k} > 0, {k}' for k in range(self.n, 0, -1))}, 0) AS level"]
        then.append(f"bitAnd(multiIf({', '.join(f'level = {k}, B{k}' for k in range(self.n, 1, -1))}, B1), bitShiftLeft(toInt64(1), {ib}) - 1) AS C1")
        for k in range(2, self.n + 1):
            then.append(f"arrayReverseFill(x -> x > 0, arrayMap((m, j) -> if(bitTest(m, {k - 1}), j, 0), M, J)) AS N{k}")
            then.append(f"N{k}[C{k - 1} + 1] * (level >= {k}) AS C{k}")
        return exprs, then, "C1"

    def _strict(self) -> tuple[list[str], list[str], str]:
        """``OK{k}[j]``: the chain from start j reaches step k: the events j..j+k-1 serve
        steps 1..k, within the window."""
        exprs = ["arrayMap(m -> bitTest(m, 0), M) AS OK1"]
        for k in range(2, self.n + 1):
            exprs.append(
                f"arrayMap((o, m, t, t0) -> o AND bitTest(m, {k - 1}) AND t - t0 <= {_WINDOW}, OK{k - 1}, arrayShiftLeft(M, {k - 1}), arrayShiftLeft(T, {k - 1}), T) AS OK{k}"
            )
        oks = ", ".join(f"OK{k}" for k in range(1, self.n + 1))
        args = ", ".join(f"o{k}" for k in range(1, self.n + 1))
        exprs.append(f"arrayMap(({args}) -> {' + '.join(f'o{k}' for k in range(1, self.n + 1))}, {oks}) AS levels")
        exprs.append("arrayMax(levels) AS level")
        then = ["arrayLastIndex(l -> l = level, levels) AS C1"]
        then += [f"(C1 + {k - 1}) * (level >= {k}) AS C{k}" for k in range(2, self.n + 1)]
        return exprs, then, "C1"

    def _unordered(self) -> tuple[list[str], list[str], str]:
        """``NT{k}[j]``: the time of the first event at or after j that serves step k; the
        attempt from j completes k when it is within the window."""
        exprs = []
        for k in range(1, self.n + 1):
            exprs.append(f"arrayReverseFill(x -> x >= 0, arrayMap((m, t) -> if(bitTest(m, {k - 1}), t, -1), M, T)) AS NT{k}")
            exprs.append(f"arrayMap((x, t) -> x >= 0 AND x - t <= {_WINDOW}, NT{k}, T) AS D{k}")
        args = ", ".join(f"d{k}" for k in range(1, self.n + 1))
        ds = ", ".join(f"D{k}" for k in range(1, self.n + 1))
        exprs.append(f"arrayMap((m, {args}) -> if(bitTest(m, {self.n}), {' + '.join(f'd{k}' for k in range(1, self.n + 1))}, 0), M, {ds}) AS levels")
        exprs.append("arrayMax(levels) AS level")
        return exprs, ["arrayLastIndex(l -> l = level, levels) AS start"], "start"

    def people(self) -> str:
        """Per person who started an attempt: ``level`` reached, ``deltas`` (milliseconds
        from each step to the next, of the attempt that counts), its first event's
        ``breakdown_value``, and ``ambiguous``."""
        lay, n, bd = self.layout, self.n, self.breakdown
        # (Each level of subquery computes its columns once: an if() would compute what its
        # branches need again, for the rows that take them.)
        exprs, then, start = {"ordered": self._ordered, "strict": self._strict, "unordered": self._unordered}[self.mode]()
        guard = ""
        if self.mode == "ordered":
            # An event's index has to fit beside its time in the packed starts.
            guard = ",\n                       throwIf(length(ks) >= bitShiftLeft(toUInt64(1), {index_bits:UInt8}), 'too many events of one person for this time span')"
        if self.mode == "unordered":
            # An unordered attempt's step times are its completions in time order.
            times = "arraySort(arrayFilter(t -> t >= 0, [" + ", ".join(f"if(D{k}[start], NT{k}[start], -1)" for k in range(1, n + 1)) + "]))"
        else:
            times = "[" + ", ".join(f"T[C{k}]" for k in range(1, n + 1)) + "]"
        who = ", person_key" if self.person_breakdown else ""
        people = f"""
    SELECT level, arrayMap(i -> times[i + 1] - times[i], range(1, level)) AS deltas, {f"vs[{start}]" if bd else "''"} AS breakdown_value, ambiguous{who}
    FROM
    (
        SELECT *, {", ".join(then)}, {times} AS times
        FROM
        (
            SELECT ambiguous, T, M, J{", vs" if bd else ""}{who}, {", ".join(exprs)}
            FROM
            (
                SELECT ambiguous, arrayMap(k -> toInt64(bitShiftRight(k, {{time_shift:UInt8}})), ks) AS T, arrayMap(k -> bitAnd(k, {lay.mask}), ks) AS M,
                       arrayEnumerate(ks) AS J{", vs" if bd else ""}{who}{guard}
                FROM ({self.collapsed()})
            )
        )
        WHERE level > 0
    )"""
        if self.person_breakdown:
            # The person's current value of the property, once per person.
            people = f"""
    SELECT pl.level AS level, pl.deltas AS deltas, ifNull(bp.value, '') AS breakdown_value, pl.ambiguous AS ambiguous
    FROM ({people}) AS pl{person_breakdown_join("breakdown", on="pl.person_key")}"""
        return people

    # --- 4. the figures ----------------------------------------------------------------------

    def query(self) -> str:
        """Rows ``(is_total, value, step, reached, avg_seconds, median_seconds, ambiguous)``:
        per step over everyone (``is_total`` 1) and, with a breakdown, per step and value
        of the 10 values with the most people, the rest as ``$other``."""
        people = self.people()
        if self.breakdown or self.person_breakdown:
            # Everyone counts in the total and in the group of their value.
            people = f"""
    SELECT level, deltas, ambiguous, arrayJoin([(1, ''), (0, if(value_rank <= 10, breakdown_value, '$other'))]) AS group
    FROM
    (
        SELECT *, dense_rank() OVER (ORDER BY people DESC, breakdown_value ASC) AS value_rank
        FROM (SELECT *, count() OVER (PARTITION BY breakdown_value) AS people FROM ({people}))
    )"""
            keys = "group.1 AS is_total, group.2 AS group_value"
        else:
            keys = "1 AS is_total, '' AS group_value"
        return f"""
SELECT {keys},
       step.1 AS step_index,
       count() AS reached,
       avgIf(step.2, step.1 > 1) / 1000 AS avg_seconds,
       quantileExactInclusiveIf(0.5)(step.2, step.1 > 1) / 1000 AS median_seconds,
       max(ambiguous) AS ambiguous
FROM ({people}
)
ARRAY JOIN arrayMap(k -> (k, if(k = 1, toInt64(0), deltas[k - 1])), range(1, level + 1)) AS step
GROUP BY is_total, group_value, step_index
ORDER BY is_total, group_value, step_index"""
