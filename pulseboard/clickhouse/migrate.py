"""Versioned ClickHouse DDL, applied in order and recorded in ``schema_migrations``.

Each file in ``migrations/`` is ``NNNN_name.sql``: statements separated by ``;`` at the
end of a line. Applying is idempotent: a recorded version is skipped, and statements use
``IF NOT EXISTS`` so that a run interrupted half-way can simply be repeated.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from pulseboard import clickhouse

MIGRATIONS_DIR = Path(__file__).parent / "migrations"

LEDGER_DDL = """
CREATE TABLE IF NOT EXISTS schema_migrations
(
    version    UInt32,
    name       String,
    applied_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
ORDER BY version
"""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    statements: list[str]


def migrations_available() -> list[Migration]:
    found = []
    for path in sorted(MIGRATIONS_DIR.glob("*.sql")):
        match = re.fullmatch(r"(\d{4})_(\w+)\.sql", path.name)
        if not match:
            raise ValueError(f"ClickHouse migration {path.name} must be named NNNN_name.sql")
        text = "\n".join(line for line in path.read_text().splitlines() if not line.lstrip().startswith("--"))
        statements = [s.strip() for s in re.split(r";\s*$", text, flags=re.M) if s.strip()]
        found.append(Migration(int(match.group(1)), match.group(2), statements))
    return found


def migrations_applied() -> set[int]:
    clickhouse.command(LEDGER_DDL)
    return {row[0] for row in clickhouse.query("SELECT version FROM schema_migrations").rows}


def migrations_apply() -> list[Migration]:
    """Apply every migration not yet recorded; return the ones applied now."""
    applied = migrations_applied()
    done = []
    for migration in migrations_available():
        if migration.version in applied:
            continue
        for statement in migration.statements:
            clickhouse.command(statement)
        clickhouse.command(
            "INSERT INTO schema_migrations (version, name) VALUES ({version:UInt32}, {name:String})",
            {"version": migration.version, "name": migration.name},
        )
        done.append(migration)
    return done
