"""ClickHouse SQL of persons: the identity facts the merge rules read, the overrides they
write, and the person lists.

Keys are ``cityHash64`` of an id, computed by ClickHouse only (Python sends the id strings):
``person_key`` of an event is the key of the first of its user_id, anonymous_id and
distinct_id. A person's key is its root's: an anonymous key merged into a user's person
maps to that person's key through ``person_overrides``.
"""

from apps.query.persons import CURRENT_VALUE, OVERRIDES

# --- The identity facts of some ids ------------------------------------------------------------

# Every merge that names one of these ids (as strings) as its anonymous id.
MERGES_OF = """
SELECT anon_key, user_key, any(anonymous_id) AS anonymous_id, any(user_id) AS user_id,
       min(first_seen).1 AS at_time, min(first_seen).2 AS at_id
FROM identity_merges
WHERE project_id = {project_id:UInt64}
  AND anon_key IN (SELECT cityHash64(arrayJoin({ids:Array(String)})))
GROUP BY anon_key, user_key
"""

# Every merge of the anonymous keys after ``{after}``, a chunk of keys at a time.
MERGES_AFTER = """
SELECT anon_key, user_key, any(anonymous_id) AS anonymous_id, any(user_id) AS user_id,
       min(first_seen).1 AS at_time, min(first_seen).2 AS at_id
FROM identity_merges
WHERE project_id = {project_id:UInt64}
  AND anon_key IN (SELECT DISTINCT anon_key FROM identity_merges WHERE project_id = {project_id:UInt64} AND anon_key > {after:Int128}
                   ORDER BY anon_key LIMIT {limit:UInt32})
GROUP BY anon_key, user_key
"""

# Every merge into one of these user keys.
MERGES_INTO = """
SELECT anon_key, user_key, any(anonymous_id) AS anonymous_id, any(user_id) AS user_id,
       min(first_seen).1 AS at_time, min(first_seen).2 AS at_id
FROM identity_merges
WHERE project_id = {project_id:UInt64} AND user_key IN {keys:Array(UInt64)}
GROUP BY anon_key, user_key
"""

# When each of these keys was first seen as a user id.
IDENTIFIED_AT = """
SELECT user_key, min(first_seen).1 AS at_time, min(first_seen).2 AS at_id
FROM identity_users
WHERE project_id = {project_id:UInt64} AND user_key IN {keys:Array(UInt64)}
GROUP BY user_key
"""

# The person each of these keys belongs to now (0: its own).
OVERRIDES_OF = """
SELECT old_key, argMax(new_key, version) AS new_key
FROM person_overrides
WHERE project_id = {project_id:UInt64} AND old_key IN {keys:Array(UInt64)}
GROUP BY old_key
"""

OVERRIDES_TABLE = "person_overrides"
OVERRIDE_COLUMNS = ("project_id", "old_key", "new_key", "old_id", "version")


# --- The person of a key -------------------------------------------------------------------------

# OVERRIDES: the merged keys of the project with their person's key (apps/query/persons.py).


def person_of(key: str) -> str:
    """The person of the key ``key`` (a column of a query joined to ``OVERRIDES AS po``)."""
    return f"if(po.new_key = 0, {key}, po.new_key)"


# The keys of one person: its own, and every key merged into it.
PERSON_KEYS = """
SELECT {person_key:UInt64} AS person_key
UNION ALL
SELECT old_key FROM """ + OVERRIDES + """ WHERE new_key = {person_key:UInt64}
"""

# The person a key belongs to (its own key when it was never merged).
PERSON_OF_KEY = """
SELECT if(count() = 0, {key:UInt64}, any(new_key)) FROM """ + OVERRIDES + """ WHERE old_key = {key:UInt64}
"""

# --- Lists of persons ----------------------------------------------------------------------------

_IDS = f"""
    SELECT {person_of("k.person_key")} AS person, k.distinct_id AS distinct_id, k.first AS first, k.last AS last,
           k.person_key = person AS own
    FROM
    (
        SELECT person_key, distinct_id, min(first_seen) AS first, max(last_seen) AS last
        FROM person_ids
        WHERE project_id = {{project_id:UInt64}}{{keys}}
        GROUP BY person_key, distinct_id
    ) AS k
    LEFT JOIN {OVERRIDES} AS po ON k.person_key = po.old_key"""


# The keys of some persons: their own, and every key merged into them.
PERSONS_KEYS = "SELECT arrayJoin({persons:Array(UInt64)}) UNION ALL SELECT old_key FROM " + OVERRIDES + " WHERE new_key IN {persons:Array(UInt64)}"


def persons_page(*, one: bool, search: bool, cursor: bool, many: bool = False) -> str:
    """Persons, most recently seen first: the person's key, its ids, first and last seen.

    ``one``: only the person ``{person:UInt64}``; ``many``: only the persons
    ``{persons:Array(UInt64)}``; ``search``: only persons with an id or a property value that
    contains ``{search:String}`` (case-insensitive); ``cursor``: only persons after
    ``({cursor_seen}, {cursor_person})`` in the order of the list."""
    keys = ""
    if one:
        keys = "\n          AND person_key IN (" + PERSON_KEYS.strip().replace("\n", " ") + ")"
    elif many:
        keys = f"\n          AND person_key IN ({PERSONS_KEYS})"
    conditions = []
    if one:
        conditions.append("person = {person:UInt64}")
    if many:
        conditions.append("person IN {persons:Array(UInt64)}")
    if search:
        conditions.append(
            "(arrayExists(id -> positionCaseInsensitiveUTF8(id, {search:String}) > 0, distinct_ids)"
            f" OR person IN (SELECT person FROM ({person_properties(keys=False)}) WHERE positionCaseInsensitiveUTF8(value, {{search:String}}) > 0))"
        )
    if cursor:
        conditions.append("(last_seen, person) < ({cursor_seen:DateTime64(3, 'UTC')}, {cursor_person:UInt64})")
    having = ("HAVING " + " AND ".join(conditions)) if conditions else ""
    return f"""
SELECT person, groupUniqArray(distinct_id) AS distinct_ids, min(first) AS first_seen, max(last) AS last_seen,
       anyIf(distinct_id, own) AS own_id
FROM
({_IDS.replace("{keys}", keys)}
)
GROUP BY person
{having}
ORDER BY last_seen DESC, person DESC
LIMIT {{limit:UInt32}}
"""


def person_properties(*, keys: bool) -> str:
    """Every current property of persons (of the keys ``{keys:Array(UInt64)}`` when ``keys``):
    rows (person, key, value as JSON text). A property's value is its latest ``$set``, or
    else its earliest ``$set_once``, over every key of the person."""
    only = "\n      AND pp.person_key IN {keys:Array(UInt64)}" if keys else ""
    return f"""
SELECT {person_of("pp.person_key")} AS person, pp.key AS key, {CURRENT_VALUE} AS value
FROM person_props AS pp
LEFT JOIN {OVERRIDES} AS po ON pp.person_key = po.old_key
WHERE pp.project_id = {{project_id:UInt64}}{only}
GROUP BY person, key"""


# The ids merged into persons that never sent an event under their own key.
MERGED_IDS = """
SELECT new_key AS person, old_id
FROM person_overrides FINAL
WHERE project_id = {project_id:UInt64} AND new_key IN {persons:Array(UInt64)} AND old_id != ''
"""

# The events of the keys of one person, newest first, a page at a time (before a cursor).
PERSON_EVENTS = """
SELECT event_id, event, timestamp, distinct_id, user_id, anonymous_id, session_id, source, page_url, referrer, properties, received_at
FROM events
WHERE project_id = {project_id:UInt64} AND person_key IN {keys:Array(UInt64)}
  AND (timestamp, event_id) < ({cursor_ts:DateTime64(3, 'UTC')}, {cursor_id:UUID})
ORDER BY timestamp DESC, event_id DESC
LIMIT {limit:UInt32}
"""


# --- Computing persons' rows again from events (after events were deleted) ----------------------
#
# Each is a materialised view of migrations 0006 and 0007 as an INSERT ... SELECT over one
# project's events; ``{persons}`` is where apps.ingest.deletion puts its condition on
# events.person_key (or nothing, for the whole project). Not deduplicated: the rows computed
# again may well be those of an earlier insert.

IDENTITY_USERS_REFILL = """
INSERT INTO identity_users (project_id, user_key, first_seen)
SELECT project_id, cityHash64(user_id) AS user_key, min((timestamp, toString(event_id))) AS first_seen
FROM events
WHERE project_id = {project_id:UInt64} AND user_id != ''{persons}
GROUP BY project_id, user_key
SETTINGS insert_deduplicate = 0
"""

IDENTITY_MERGES_REFILL = """
INSERT INTO identity_merges (project_id, anon_key, user_key, anonymous_id, user_id, first_seen)
SELECT project_id, cityHash64(anon) AS anon_key, cityHash64(user) AS user_key,
       any(anon) AS anonymous_id, any(user) AS user_id, min((timestamp, toString(event_id))) AS first_seen
FROM (SELECT project_id, anonymous_id AS anon, user_id AS user, timestamp, event_id FROM events
      WHERE project_id = {project_id:UInt64} AND user_id != '' AND anonymous_id != '' AND user_id != anonymous_id{persons})
GROUP BY project_id, anon_key, user_key
SETTINGS insert_deduplicate = 0
"""

PERSON_IDS_REFILL = """
INSERT INTO person_ids (project_id, person_key, distinct_id, first_seen, last_seen)
SELECT project_id, person_key, if(user_id != '', user_id, if(anonymous_id != '', anonymous_id, distinct_id)) AS distinct_id,
       min(timestamp) AS first_seen, max(timestamp) AS last_seen
FROM events
WHERE project_id = {project_id:UInt64}{persons}
GROUP BY project_id, person_key, distinct_id
SETTINGS insert_deduplicate = 0
"""

PERSON_PROPS_REFILL = """
INSERT INTO person_props (project_id, key, person_key, priority, value, text)
SELECT project_id, key, person_key, max(rank) AS priority, argMax(raw, rank) AS value, argMax(as_text, rank) AS text
FROM
(
    SELECT project_id, person_key, p.1 AS key, p.2 AS raw,
           if(JSONType(raw) = 'String', JSONExtractString(raw), raw) AS as_text,
           bitShiftLeft(toUInt256(toUnixTimestamp64Milli(timestamp) + 1125899906842624), 128)
               + reinterpretAsUInt128(reverse(unhex(replaceAll(toString(event_id), '-', '')))) AS at,
           toUInt256(if(p.3 = 1, bitShiftLeft(toUInt256(1), 200) + at, bitShiftLeft(toUInt256(1), 199) - at)) AS rank
    FROM events
    ARRAY JOIN arrayConcat(
        arrayMap(x -> (x.1, x.2, 1), JSONExtractKeysAndValuesRaw(properties, '$set')),
        arrayMap(x -> (x.1, x.2, 2), JSONExtractKeysAndValuesRaw(properties, '$set_once'))
    ) AS p
    WHERE project_id = {project_id:UInt64} AND position(properties, '"$set') > 0{persons}
)
GROUP BY project_id, key, person_key
SETTINGS insert_deduplicate = 0
"""
