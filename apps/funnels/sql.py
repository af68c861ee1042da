"""ClickHouse SQL of the funnel engine (docstring rewritten once the design settles)."""

from __future__ import annotations

from dataclasses import dataclass

from apps.analytics.sql import property_filters, property_text

# funnel_events.order_key: milliseconds * 2**22 + the event id's first 22 bits.
ID_BITS = 22
ORDER_KEY = f"toUInt64(toUnixTimestamp64Milli(timestamp)) * {1 << ID_BITS} + bitShiftRight(reinterpretAsUInt64(event_id), {64 - ID_BITS})"


@dataclass(frozen=True)
class Layout:
    """How an event is packed into one UInt64 for a funnel of ``n`` steps.

    ``(order_key - from_key) >> drop``, shifted left by ``mask_bits``, plus a mask: bit k-1
    set when the event serves step k, bit n when it falls inside the date range. Sorting
    the numbers sorts by time, then by the event id bits that are left (``22 - drop``); the
    time span of the query decides how many of them fit in the 63 bits of a positive Int64.
    """

    n: int
    drop: int

    @property
    def mask_bits(self) -> int:
        return self.n + 1

    @property
    def time_shift(self) -> int:
        """Shift a packed event right by this to get its milliseconds since ``date_from``."""
        return self.mask_bits + ID_BITS - self.drop

    @property
    def mask(self) -> int:
        return (1 << self.mask_bits) - 1

    @property
    def steps_mask(self) -> int:
        return (1 << self.n) - 1


def layout_for(n: int, span_ms: int) -> Layout:
    """The packing of a funnel of ``n`` steps over ``span_ms`` milliseconds."""
    need = max(span_ms, 1).bit_length() + ID_BITS + n + 1
    return Layout(n=n, drop=min(ID_BITS, max(0, need - 63)))


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

    def __init__(self, steps, mode: str, layout: Layout, params: dict, *, breakdown: bool, exact: bool):
        self.steps, self.mode, self.layout, self.params = steps, mode, layout, params
        self.breakdown, self.exact = breakdown, exact
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
        """Rows ``(person_key, key, tie, value)``.

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
        if mode != "unordered":
            # Only people with a step-1 event in the range can start an attempt. (Unordered
            # attempts start at any step's event: nearly everyone read has one.)
            starters = """
          AND person_key IN (SELECT person_key FROM funnel_events
                             WHERE project_id = {project_id:UInt64} AND event IN {start_events:Array(String)}
                               AND order_key >= {from_key:UInt64} AND order_key < {to_key:UInt64})"""
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
                value = f"if({can_start}, {property_text('breakdown')}, '')"
            parts.append(f"""
        SELECT person_key, {key} AS key{tie}, {value} AS value
        FROM events
        WHERE project_id = {{project_id:UInt64}} AND timestamp >= {_FROM} AND timestamp < {_SCAN_TO}
          AND event IN {{property_events:Array(String)}}{starters}""")
        return "\n        UNION ALL".join(parts)

    # --- 2. per person, in order ------------------------------------------------------------

    def sorted(self) -> str:
        """Per person ``ks1``, the packed events in time order (ties by event id), ``vs1``
        their breakdown values, and ``ambiguous``."""
        mb = self.layout.mask_bits
        if self.exact:
            by = f"(bitShiftRight(k, {mb}), u)"
            values = f", arraySort((v, k, u) -> {by}, vs0, ks0, us0) AS vs1" if self.breakdown else ""
            return f"""
    SELECT person_key, arraySort((k, u) -> {by}, ks0, us0) AS ks1{values}
    FROM
    (
        SELECT person_key, groupArray(key) AS ks0, groupArray(tie) AS us0{", groupArray(value) AS vs0" if self.breakdown else ""}
        FROM
        ({self.sources()}
        )
        GROUP BY person_key
    )"""
        values = ", arraySort((v, k) -> k, groupArray(value), groupArray(key)) AS vs1" if self.breakdown else ""
        return f"""
    SELECT person_key, arraySort(groupArray(key)) AS ks1{values}
    FROM
    ({self.sources()}
    )
    GROUP BY person_key"""

    def collapsed(self) -> str:
        """Per person ``ks`` (and ``vs``): the sorted events less those that cannot change
        what any attempt reaches (see the module docstring)."""
        lay, mode, bd = self.layout, self.mode, self.breakdown
        m, prev, nxt = (f"bitAnd({x}, {lay.mask})" for x in ("k", "p", "q"))
        steps = f"bitAnd(k, {lay.steps_mask})"
        if mode == "ordered":
            keep = f"{m} != 0 AND NOT ({m} = 1 AND {nxt} = 1) AND NOT (bitCount({m}) = 1 AND {m} != 1 AND {prev} = {m})"
        elif mode == "strict":
            keep = f"NOT ({prev} = {m} AND {nxt} = {m} AND bitCount({m}) <= 1)"
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
        return f"""
    SELECT person_key, {ambiguous} AS ambiguous,
           arrayFilter((k, p, q) -> {keep}, ks1, prevs, nexts) AS ks{", arrayFilter((v, k, p, q) -> " + keep + ", vs1, ks1, prevs, nexts) AS vs" if bd else ""}
    FROM
    (
        SELECT *, arrayShiftRight(ks1, 1, toInt64({lay.mask})) AS prevs, arrayShiftLeft(ks1, 1, toInt64({lay.mask})) AS nexts
        FROM ({self.sorted()})
    )"""

    # --- 3. the attempts ---------------------------------------------------------------------

    def _next_index(self, k: int) -> str:
        """``N{k}``: per position, the index of the first event at or after it that serves
        step k, 0 if none."""
        return f"arrayReverseFill(x -> x > 0, arrayMap((m, j) -> if(bitTest(m, {k - 1}), j, 0), M, arrayEnumerate(M))) AS N{k}"

    def _attempts(self) -> list[str]:
        """Over ``T`` (times), ``M`` (masks) and ``S`` (indexes of the starts): per start,
        ``C{k}`` the index of step k's event (0 once the chain stopped; ``D{k}`` for
        unordered) and ``levels``, arrays aligned with ``S``."""
        n, exprs = self.n, []
        if self.mode == "ordered":
            # Step k: the first event serving k after step k-1's, within the window.
            exprs.append("S AS C1")
            for k in range(2, n + 1):
                exprs.append(self._next_index(k))
                exprs.append(
                    f"arrayMap((c, s) -> if(c > 0 AND N{k}[c + 1] > 0 AND T[N{k}[c + 1]] - T[s] <= {_WINDOW}, N{k}[c + 1], 0), C{k - 1}, S) AS C{k}"
                )
        elif self.mode == "strict":
            # Step k: the event right after step k-1's, if it serves k, within the window.
            exprs.append("S AS C1")
            for k in range(2, n + 1):
                exprs.append(
                    f"arrayMap((c, s) -> if(c > 0 AND bitTest(M[c + 1], {k - 1}) AND T[c + 1] - T[s] <= {_WINDOW}, c + 1, 0), C{k - 1}, S) AS C{k}"
                )
        else:
            # Step k: its first event at or after the start, within the window.
            for k in range(1, n + 1):
                exprs.append(self._next_index(k))
                exprs.append(f"arrayMap(s -> if(N{k}[s] > 0 AND T[N{k}[s]] - T[s] <= {_WINDOW}, N{k}[s], 0), S) AS C{k}")
        first = 1 if self.mode == "unordered" else 2
        args = ", ".join(f"c{k}" for k in range(first, n + 1))
        count = " + ".join(f"(c{k} > 0)" for k in range(first, n + 1))
        exprs.append(f"arrayMap(({args}) -> {'' if first == 1 else '1 + '}{count}, {', '.join(f'C{k}' for k in range(first, n + 1))}) AS levels")
        return exprs

    def people(self) -> str:
        """Per person who started an attempt: ``level`` reached, ``deltas`` (milliseconds
        from each step to the next, of the attempt that counts), its first event's
        ``breakdown_value``, and ``ambiguous``."""
        lay, n, bd = self.layout, self.n, self.breakdown
        if self.mode == "unordered":
            starts = f"arrayFilter(j -> bitTest(M[j], {n}), arrayEnumerate(M)) AS S"
            # An unordered attempt's step times are its completions in time order.
            times = "arraySort(arrayFilter(t -> t >= 0, [" + ", ".join(f"if(C{k}[best] > 0, T[C{k}[best]], -1)" for k in range(1, n + 1)) + "]))"
        else:
            starts = "arrayFilter(j -> bitTest(M[j], 0), arrayEnumerate(M)) AS S"
            times = "[" + ", ".join(f"T[C{k}[best]]" for k in range(1, n + 1)) + "]"
        return f"""
    SELECT level, arrayMap(i -> times[i + 1] - times[i], range(1, level)) AS deltas, {"vs[S[best]]" if bd else "''"} AS breakdown_value, ambiguous
    FROM
    (
        SELECT *, arrayMax(levels) AS level, arrayLastIndex(l -> l = level, levels) AS best, {times} AS times
        FROM
        (
            SELECT ambiguous, T, M{", vs" if bd else ""}, {starts}, {", ".join(self._attempts())}
            FROM
            (
                SELECT ambiguous, arrayMap(k -> toInt64(bitShiftRight(k, {{time_shift:UInt8}})), ks) AS T, arrayMap(k -> bitAnd(k, {lay.mask}), ks) AS M{", vs" if bd else ""}
                FROM ({self.collapsed()})
            )
            WHERE length(S) > 0
        )
    )"""

    # --- 4. the figures ----------------------------------------------------------------------

    def query(self) -> str:
        """Rows ``(is_total, value, step, reached, avg_seconds, median_seconds, ambiguous)``:
        per step over everyone (``is_total`` 1) and, with a breakdown, per step and value
        of the 10 values with the most people, the rest as ``$other``."""
        people = self.people()
        if self.breakdown:
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
