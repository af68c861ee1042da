"""The two ClickHouse backends behind one interface.

Both run the same SQL text with ClickHouse server-side parameters (``{name:Type}``):

* :class:`ChdbBackend`, the in-process engine of the embedded deployment. Only one process
  may open a chdb directory, so the backend takes an exclusive lock file next to it and
  refuses, with a message that says what to do, when another process holds it.
* :class:`DriverBackend`, a ClickHouse server over the native protocol (clickhouse-driver,
  ``server_side_params=True``).

Callers pass parameters as plain Python values (str, int, float, bool, aware datetime,
UUID, lists of those); results come back as :class:`Result` with Python values: ints,
floats, str, dates, UTC-aware datetimes, lists.
"""

from __future__ import annotations

import fcntl
import os
import re
import threading
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any, Iterable
from urllib.parse import unquote, urlparse
from uuid import UUID

import orjson


class ClickHouseError(Exception):
    """ClickHouse rejected a statement or could not be reached.

    ``code`` is ClickHouse's error code when it gave one (``None``: no answer at all, such
    as a refused connection). :attr:`transient` says whether the same statement may
    succeed later unchanged: the server was unreachable or busy, or the schema is not what
    the statement expects (an operator's problem, never the rows'). Anything else is
    about the data the statement carried: an insert that fails so fails for some of its rows.
    """

    def __init__(self, message: str, code: int | None = None):
        super().__init__(message)
        self.code = code

    @property
    def transient(self) -> bool:
        return self.code is None or self.code in TRANSIENT_CODES


class ClickHouseBusy(ClickHouseError):
    """The embedded chdb directory is held by another process."""


# ClickHouse error codes that say nothing about the rows of an insert: the server is
# unreachable, overloaded, read-only or out of space, or the schema or SQL is not what the
# statement expects. An insert failing with one of these is retried as it is; any other
# code is taken as a refusal of some of its rows (see apps/ingest/services.py).
TRANSIENT_CODES = frozenset(
    {
        16,  # NO_SUCH_COLUMN_IN_TABLE
        46,  # UNKNOWN_FUNCTION
        47,  # UNKNOWN_IDENTIFIER
        48,  # NOT_IMPLEMENTED
        60,  # UNKNOWN_TABLE
        62,  # SYNTAX_ERROR
        81,  # UNKNOWN_DATABASE
        115,  # UNKNOWN_SETTING
        159,  # TIMEOUT_EXCEEDED
        164,  # READONLY
        192,  # UNKNOWN_USER
        194,  # REQUIRED_PASSWORD
        202,  # TOO_MANY_SIMULTANEOUS_QUERIES
        203,  # NO_FREE_CONNECTION
        209,  # SOCKET_TIMEOUT
        210,  # NETWORK_ERROR
        225,  # NO_ZOOKEEPER
        236,  # ABORTED
        241,  # MEMORY_LIMIT_EXCEEDED
        242,  # TABLE_IS_READ_ONLY
        243,  # NOT_ENOUGH_SPACE
        252,  # TOO_MANY_PARTS (merges are behind; the flush never sends over 100 partitions)
        285,  # TOO_FEW_LIVE_REPLICAS
        319,  # UNKNOWN_STATUS_OF_INSERT
        394,  # QUERY_WAS_CANCELLED
        425,  # SYSTEM_ERROR
        439,  # CANNOT_SCHEDULE_TASK
        473,  # DEADLOCK_AVOIDED
        497,  # ACCESS_DENIED
        516,  # AUTHENTICATION_FAILED
        999,  # KEEPER_EXCEPTION
        1000,  # POCO_EXCEPTION
    }
)

_CODE = re.compile(r"Code: (\d+)\.")


def error_code(message: str) -> int | None:
    """The error code in a ClickHouse message (``Code: 27. DB::Exception: ...``)."""
    match = _CODE.search(message)
    return int(match.group(1)) if match else None


# Every insert carries a deduplication token (a unique one when the caller gives none).
# Tables keep the tokens of their recent inserts (non_replicated_deduplication_window,
# migration 0005), so an insert repeated with its token writes nothing twice, and with
# deduplicate_blocks_in_dependent_materialized_views each materialised view's table checks
# its own share: a repeat fills in exactly the views that missed the first attempt.
INSERT_SETTINGS = {"deduplicate_blocks_in_dependent_materialized_views": 1}


@dataclass(frozen=True)
class Result:
    columns: list[str]
    rows: list[tuple]

    def dicts(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, row)) for row in self.rows]

    def scalar(self) -> Any:
        return self.rows[0][0] if self.rows else None


def param_datetime_text(value: datetime) -> str:
    """A datetime query parameter as ClickHouse text in UTC, to the microsecond (the
    parameter's type in the SQL says what ClickHouse keeps of it). Naive datetimes are
    rejected: time is always UTC here."""
    if value.tzinfo is None:
        raise ValueError("ClickHouse parameters must be timezone-aware datetimes")
    return value.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")


def normalise_param(value: Any) -> Any:
    if isinstance(value, datetime):
        return param_datetime_text(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (list, tuple)):
        return [normalise_param(v) for v in value]
    return value


def _parse_datetime(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc)


def _base_type(type_name: str) -> str:
    while True:
        if type_name.startswith(("Nullable(", "LowCardinality(")):
            type_name = type_name[type_name.index("(") + 1 : -1]
        elif type_name.startswith("SimpleAggregateFunction("):  # (function, type): the values are of the type
            type_name = type_name[type_name.index(",") + 1 : -1].strip()
        else:
            return type_name


def _converter(type_name: str):
    base = _base_type(type_name)
    if base.startswith("DateTime"):
        return lambda v: None if v is None else _parse_datetime(v)
    if base in ("Date", "Date32"):
        return lambda v: None if v is None else date.fromisoformat(v)
    if base.startswith("Decimal"):
        return lambda v: None if v is None else float(v)
    return None


class Backend:
    name = "abstract"

    def query(self, sql: str, params: dict[str, Any] | None = None) -> Result:
        raise NotImplementedError

    def command(self, sql: str, params: dict[str, Any] | None = None) -> None:
        raise NotImplementedError

    def insert_json_each_row(self, table: str, columns: Iterable[str], payload: bytes, *, token: str | None = None) -> int:
        """Insert newline-separated JSON objects in ONE insert; return the rows written.

        ``token`` is the insert's deduplication token: the same token with the same rows
        writes nothing twice. Any failure raises :class:`ClickHouseError`.
        """
        raise NotImplementedError

    def close(self) -> None:
        pass


# --- chdb ------------------------------------------------------------------------------


def _chdb_text(value: Any, nested: bool = False) -> str:
    """Serialise a parameter the way ClickHouse reads ``{name:Type}`` values.

    Top-level values use the escaped (TSV) text format; values inside arrays use the
    quoted format, as in an SQL literal.
    """
    if isinstance(value, list):
        return "[" + ",".join(_chdb_text(v, nested=True) for v in value) + "]"
    if value is None:
        return "NULL" if nested else "\\N"
    if isinstance(value, str):
        if nested:
            return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
        return (
            value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r").replace("\0", "\\0")
        )
    return str(value)


class ChdbBackend(Backend):
    name = "chdb"

    def __init__(self, path: str, database: str):
        from chdb import session as chdb_session

        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        self._lock_file = open(self.path.parent / f".{self.path.name}.lock", "a+")
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock_file.seek(0)
            holder = self._lock_file.read().strip() or "another process"
            self._lock_file.close()
            raise ClickHouseBusy(
                f"The embedded ClickHouse at {self.path} is in use by {holder}. "
                "Only one process can open it: stop the running PulseBoard server (Ctrl-C on `make run`) "
                "and run this command again, or run it against a ClickHouse server by setting CLICKHOUSE_URL."
            ) from None
        self._lock_file.seek(0)
        self._lock_file.truncate()
        self._lock_file.write(f"PulseBoard process {os.getpid()}")
        self._lock_file.flush()
        self._session = chdb_session.Session(str(self.path))
        self._mutex = threading.RLock()
        self._session.query(f"CREATE DATABASE IF NOT EXISTS `{database}`")
        self._session.query(f"USE `{database}`")
        self._session.query("SET output_format_json_quote_64bit_integers = 0")
        self._session.query("SET output_format_json_quote_decimals = 0")
        self.database = database

    def _run(self, sql: str | bytes, fmt: str, params: dict[str, Any] | None):
        chdb_params = {k: _chdb_text(normalise_param(v)) for k, v in (params or {}).items()}
        try:
            with self._mutex:
                return self._session.query(sql, fmt, params=chdb_params or None)
        except Exception as exc:  # chdb raises RuntimeError subclasses for any engine error
            raise ClickHouseError(str(exc), error_code(str(exc))) from exc

    def query(self, sql: str, params: dict[str, Any] | None = None) -> Result:
        raw = self._run(sql, "JSONCompact", params)
        text = raw.bytes() if hasattr(raw, "bytes") else bytes(raw)
        if not text.strip():
            return Result([], [])
        doc = orjson.loads(text)
        meta = doc["meta"]
        converters = [_converter(m["type"]) for m in meta]
        rows = []
        for row in doc["data"]:
            rows.append(tuple(conv(v) if conv else v for conv, v in zip(converters, row)))
        return Result([m["name"] for m in meta], rows)

    def command(self, sql: str, params: dict[str, Any] | None = None) -> None:
        self._run(sql, "CSV", params)

    def insert_json_each_row(self, table: str, columns: Iterable[str], payload: bytes, *, token: str | None = None) -> int:
        body = payload.strip(b"\n")
        if not body:
            return 0
        # The rows ride in the statement's data part, after FORMAT, where ClickHouse reads
        # them as JSONEachRow and never as SQL. chdb's streaming insert (send_insert) is not
        # used: it reports success when the engine refuses the rows.
        settings = ", ".join(f"{name} = {value}" for name, value in INSERT_SETTINGS.items())
        statement = (
            f"INSERT INTO {table} ({', '.join(columns)}) "
            f"SETTINGS insert_deduplication_token = {{token:String}}, {settings} FORMAT JSONEachRow\n"
        )
        self._run(statement.encode() + body, "CSV", {"token": token or uuid.uuid4().hex})
        # The insert is all or nothing; count the rows sent.
        return body.count(b"\n") + 1

    def close(self) -> None:
        with self._mutex:
            self._session.close()
        fcntl.flock(self._lock_file, fcntl.LOCK_UN)
        self._lock_file.close()


# --- ClickHouse server -------------------------------------------------------------------


@dataclass(frozen=True)
class ServerAddress:
    host: str
    port: int
    user: str
    password: str
    database: str
    secure: bool


def parse_clickhouse_url(url: str) -> ServerAddress:
    """``clickhouse://user:pass@host:9000/db`` (``clickhouses://`` for TLS, port 9440)."""
    parsed = urlparse(url)
    if parsed.scheme not in {"clickhouse", "clickhouses"}:
        raise ValueError(f"CLICKHOUSE_URL must start with clickhouse:// or clickhouses://, got {url!r}")
    if not parsed.hostname:
        raise ValueError(f"CLICKHOUSE_URL has no host: {url!r}")
    secure = parsed.scheme == "clickhouses"
    return ServerAddress(
        host=parsed.hostname,
        port=parsed.port or (9440 if secure else 9000),
        user=unquote(parsed.username or "default"),
        password=unquote(parsed.password or ""),
        database=(parsed.path or "/").lstrip("/") or "default",
        secure=secure,
    )


class DriverBackend(Backend):
    name = "clickhouse-server"

    def __init__(self, url: str, database: str | None = None):
        self.address = parse_clickhouse_url(url)
        self.database = database or self.address.database
        self._local = threading.local()

    def _client(self):
        client = getattr(self._local, "client", None)
        if client is None:
            from clickhouse_driver import Client

            bootstrap = Client(
                host=self.address.host,
                port=self.address.port,
                user=self.address.user,
                password=self.address.password,
                secure=self.address.secure,
            )
            bootstrap.execute(f"CREATE DATABASE IF NOT EXISTS `{self.database}`")
            bootstrap.disconnect()
            client = Client(
                host=self.address.host,
                port=self.address.port,
                user=self.address.user,
                password=self.address.password,
                database=self.database,
                secure=self.address.secure,
                settings={"server_side_params": True},
            )
            self._local.client = client
        return client

    def _execute(self, sql: str, params: dict[str, Any] | None, **kwargs):
        from clickhouse_driver import errors

        normalised = {k: normalise_param(v) for k, v in (params or {}).items()}
        try:
            return self._client().execute(sql, normalised or None, **kwargs)
        except (errors.Error, OSError, EOFError) as exc:
            self._local.client = None
            raise _driver_error(exc) from exc

    def query(self, sql: str, params: dict[str, Any] | None = None) -> Result:
        rows, types = self._execute(sql, params, with_column_types=True)
        columns = [name for name, _ in types]
        fixed = []
        for row in rows:
            fixed.append(tuple(_from_driver(v) for v in row))
        return Result(columns, fixed)

    def command(self, sql: str, params: dict[str, Any] | None = None) -> None:
        self._execute(sql, params)

    def insert_json_each_row(self, table: str, columns: Iterable[str], payload: bytes, *, token: str | None = None) -> int:
        columns = list(columns)
        rows = [orjson.loads(line) for line in payload.splitlines() if line.strip()]
        if not rows:
            return 0
        from clickhouse_driver import errors

        try:
            types = self._column_types(table)
            self._client().execute(
                f"INSERT INTO {table} ({', '.join(columns)}) VALUES",
                [{c: _to_driver_value(row.get(c), types.get(c, "")) for c in columns} for row in rows],
                settings={**INSERT_SETTINGS, "insert_deduplication_token": token or uuid.uuid4().hex},
            )
        except (errors.Error, OSError, EOFError) as exc:
            self._local.client = None
            raise _driver_error(exc) from exc
        return len(rows)

    def _column_types(self, table: str) -> dict[str, str]:
        cache = self.__dict__.setdefault("_types", {})
        if table not in cache:
            result = self.query(
                "SELECT name, type FROM system.columns WHERE database = {db:String} AND table = {table:String}",
                {"db": self.database, "table": table},
            )
            cache[table] = dict(result.rows)
        return cache[table]

    def close(self) -> None:
        client = getattr(self._local, "client", None)
        if client is not None:
            client.disconnect()
            self._local.client = None


def _driver_error(exc: Exception) -> ClickHouseError:
    """A clickhouse-driver failure: a server exception keeps its code; a network one has none."""
    from clickhouse_driver import errors

    code = exc.code if isinstance(exc, errors.ServerException) else None
    return ClickHouseError(str(exc), code)


def _from_driver(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [_from_driver(v) for v in value]
    return value


def _to_driver_value(value: Any, type_name: str) -> Any:
    """A JSONEachRow value as the Python type clickhouse-driver writes natively for ``type_name``."""
    base = _base_type(type_name)
    if isinstance(value, str) and base.startswith("DateTime"):
        return _parse_datetime(value)
    if isinstance(value, str) and base == "UUID":
        return UUID(value)
    return value
