"""ClickHouse SQL of the funnel engine: one query per funnel, one more for a breakdown.

How a funnel query works, inside out:

1. **Events per person.** For the people with an event that can start an attempt in the
   range, each of their events of the range (and of the conversion window after it) that
   can matter becomes a tuple ``(time_ms, event_id, step_mask, breakdown_value)``,
   grouped per ``person_key`` into an array sorted by time, ties by event id.
   ``step_mask`` has bit k-1 set when the event satisfies step k (name and property
   filters); for ordered and strict funnels, step 1 also needs the event to fall inside
   the date range (an unordered attempt may start at any step's event in the range). Ordered and
   unordered funnels read only the events named by a step; strict funnels read every
   event, since any other event between two steps breaks the chain. A run of consecutive
   events with the same single step (or no step), all inside or all after the date range,
   is cut to its first and last event: the
   first is the one that can extend a chain, the last the latest start; the ones between
   can only repeat what the first did. Events matching several steps are all kept.

2. **The attempt that counts, per person.** An attempt starts at a step-1 event (any
   step's event for unordered funnels). A person counts at the furthest step any attempt
   reaches; among attempts that reach it, the one that started last. Each attempt is a
   chain ``[start index, t1, t2, ...]``.

   * ordered: ``arrayFold`` keeps, for each step k, the chain that reached k with the
     latest start. An event of step k extends the step k-1 chain when it falls within
     the window of that chain's start and that chain started after the current step k
     chain. All steps are updated from the state before the event, so one event never
     serves two steps of one attempt. Keeping the latest start per step is enough: a
     later start leaves at least as much window for what follows.
   * strict: the same, but a chain only lives while each next event of the person
     extends it; every other event ends it. The fold carries the living chain and the
     best chain seen, per step.
   * unordered: for every possible start, the first event of each step at or after it
     (found with a reverse fill per step); the steps whose first event is within the
     window are completed, at those events' times.

3. **Figures.** Each person contributes one row per step reached with the time from the
   previous step of the chain; grouping by step gives the count, the average and the
   median (``quantileExactInclusive``: the mean of the two middle values for even counts).
"""

from __future__ import annotations

from apps.analytics.sql import property_filters, property_text

_RANGE_FROM = "{date_from:DateTime64(3, 'UTC')}"


def step_conditions(steps, params: dict) -> list[str]:
    """One boolean SQL expression per step: the event name, then the step's property filters."""
    conditions = []
    for i, step in enumerate(steps):
        name = f"step_event_{i}"
        params[name] = step.event
        filters_sql = property_filters(list(step.filters), params, prefix=f"s{i}_")
        conditions.append(f"(event = {{{name}:String}}{filters_sql})")
    return conditions


def _mask(conditions: list[str], *, step_one_in_range: bool) -> str:
    terms = []
    for i, condition in enumerate(conditions):
        if i == 0 and step_one_in_range:
            condition = f"({condition} AND timestamp < {{date_to:DateTime64(3, 'UTC')}})"
        terms.append(f"toUInt32({condition}) * {1 << i}")
    return " + ".join(terms)


def _events_per_person(conditions: list[str], *, mode: str, breakdown: bool) -> str:
    value = property_text("breakdown") if breakdown else "''"
    names = "" if mode == "strict" else "\n      AND has({step_events:Array(String)}, event)"
    # An attempt starts in the date range: at a step-1 event, or at any step's for unordered.
    unordered = mode == "unordered"
    start_condition = " OR ".join(conditions) if unordered else conditions[0]
    # Only the events of people who started an attempt are grouped, and of each run of
    # consecutive events with the same single step (or none) only the first and the last
    # are kept: the events in between cannot change any attempt (see the module docstring).
    # Ordered and unordered funnels also drop events that match no step.
    keep_unmatched = "1" if mode == "strict" else "e.3 != 0"
    return f"""
    SELECT person_key,
           arrayFilter((e, i) -> {keep_unmatched} AND NOT (i > 1 AND i < length(all_evs) AND bitCount(e.3) <= 1
                                                         AND all_evs[i - 1].3 = e.3 AND all_evs[i + 1].3 = e.3
                                                         AND (all_evs[i - 1].1 < {{to_ms:Int64}}) = (e.1 < {{to_ms:Int64}})
                                                         AND (all_evs[i + 1].1 < {{to_ms:Int64}}) = (e.1 < {{to_ms:Int64}})),
                       all_evs, arrayEnumerate(all_evs)) AS evs
    FROM
    (
        SELECT person_key,
               arraySort(e -> (e.1, e.2), groupArray((toUnixTimestamp64Milli(timestamp), toString(event_id), {_mask(conditions, step_one_in_range=not unordered)}, {value}))) AS all_evs
        FROM events
        WHERE project_id = {{project_id:UInt64}}
          AND timestamp >= {_RANGE_FROM} AND timestamp < {{scan_to:DateTime64(3, 'UTC')}}{names}
          AND person_key IN
          (
              SELECT person_key FROM events
              WHERE project_id = {{project_id:UInt64}}
                AND timestamp >= {_RANGE_FROM} AND timestamp < {{date_to:DateTime64(3, 'UTC')}}
                AND ({start_condition})
          )
        GROUP BY person_key
    )"""


def _ordered_chain(n: int) -> str:
    return f"""arrayFold(
        (acc, e, i) -> arrayMap(k ->
            if(k = 1,
               if(bitTest(e.3, 0), [toInt64(i), e.1], acc[1]),
               if(bitTest(e.3, k - 1) AND length(acc[k - 1]) > 0 AND e.1 - acc[k - 1][2] <= {{window_ms:Int64}}
                  AND (length(acc[k]) = 0 OR acc[k][1] < acc[k - 1][1]),
                  arrayPushBack(acc[k - 1], e.1),
                  acc[k])),
            range(1, {n + 1})),
        evs, arrayEnumerate(evs), arrayWithConstant({n}, CAST([], 'Array(Int64)')))"""


def _strict_chain(n: int) -> str:
    # State per step: (living chain, best chain). The living chain of step k after an event
    # is the step k-1 living chain extended by it, or nothing.
    living = f"""if(k = 1,
                   if(bitTest(e.3, 0), [toInt64(i), e.1], CAST([], 'Array(Int64)')),
                   if(bitTest(e.3, k - 1) AND length(acc[k - 1].1) > 0 AND e.1 - acc[k - 1].1[2] <= {{window_ms:Int64}},
                      arrayPushBack(acc[k - 1].1, e.1),
                      CAST([], 'Array(Int64)')))"""
    fold = f"""arrayFold(
        (acc, e, i) -> arrayMap(k -> arrayMap(live -> (live,
                if(length(live) > 0 AND (length(acc[k].2) = 0 OR live[1] > acc[k].2[1]), live, acc[k].2)),
                [{living}])[1],
            range(1, {n + 1})),
        evs, arrayEnumerate(evs),
        arrayWithConstant({n}, CAST(([], []), 'Tuple(Array(Int64), Array(Int64))')))"""
    return f"arrayMap(s -> s.2, {fold})"


def _unordered_chain(n: int) -> str:
    nexts = f"""arrayMap(s -> arrayReverseFill(x -> x > 0, arrayMap((e, j) -> if(bitTest(e.3, s - 1), j, 0), evs, arrayEnumerate(evs))),
                         range(1, {n + 1}))"""
    starts = "arrayFilter(i -> evs[i].3 != 0 AND evs[i].1 < {to_ms:Int64}, arrayEnumerate(evs))"
    attempt = f"""arrayMap(i -> (i, arraySort(arrayFilter(t -> t >= 0, arrayMap(s ->
                    if(nexts[s][i] > 0 AND evs[nexts[s][i]].1 - evs[i].1 <= {{window_ms:Int64}}, evs[nexts[s][i]].1, toInt64(-1)),
                    range(1, {n + 1}))))), {starts})"""
    best = f"arraySort(a -> (-length(a.2), -a.1), {attempt})[1]"
    # The unordered chain of step k is the one best attempt cut to its first k completions.
    return f"""arrayMap(k -> if(length(best.2) >= k, arrayConcat([toInt64(best.1)], arraySlice(best.2, 1, k)), CAST([], 'Array(Int64)')),
                      range(1, {n + 1}))""", nexts, best


def people(n: int, mode: str, conditions: list[str], *, breakdown: bool) -> str:
    """Per person: ``level`` reached (0..n), the ``chain`` of the attempt that counts and
    its first event's ``breakdown_value``."""
    source = _events_per_person(conditions, mode=mode, breakdown=breakdown)
    if mode == "unordered":
        chains, nexts, best = _unordered_chain(n)
        inner = f"""
    SELECT person_key, evs, {nexts} AS nexts, {best} AS best, {chains} AS chains
    FROM ({source})"""
    else:
        chains = _ordered_chain(n) if mode == "ordered" else _strict_chain(n)
        inner = f"""
    SELECT person_key, evs, {chains} AS chains
    FROM ({source})"""
    return f"""
SELECT person_key,
       length(arrayFilter(c -> length(c) > 0, chains)) AS level,
       chains[level] AS chain,
       evs[chain[1]].4 AS breakdown_value
FROM ({inner}
)
WHERE level > 0"""


def _step_rows(people_sql: str, group: str) -> str:
    return f"""
SELECT {group} AS group_value,
       step.1 AS step_index,
       count() AS reached,
       avgIf(step.2, step.1 > 1) / 1000 AS avg_seconds,
       quantileExactInclusiveIf(0.5)(step.2, step.1 > 1) / 1000 AS median_seconds
FROM ({people_sql}
)
ARRAY JOIN arrayMap(k -> (k, if(k = 1, toInt64(0), chain[k + 1] - chain[k])), range(1, level + 1)) AS step
GROUP BY group_value, step_index
ORDER BY group_value, step_index"""


def funnel_query(n: int, mode: str, conditions: list[str]) -> str:
    """Per step: people who reached it, and the average and median seconds from the step before."""
    return _step_rows(people(n, mode, conditions, breakdown=False), "''")


def funnel_breakdown_query(n: int, mode: str, conditions: list[str]) -> str:
    """The same per value of the breakdown property on each person's first event of the
    attempt that counts: the 10 values with the most people, the rest as ``$other``."""
    people_sql = people(n, mode, conditions, breakdown=True)
    group = f"""if(has((SELECT groupArray(v) FROM (SELECT breakdown_value AS v, count() AS c FROM ({people_sql}
) GROUP BY v ORDER BY c DESC, v ASC LIMIT 10)), breakdown_value), breakdown_value, '$other')"""
    return _step_rows(people_sql, group)
