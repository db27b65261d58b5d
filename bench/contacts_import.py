"""How fast does ``import_contacts_csv`` import a large CSV, against raw inserts of the same rows?

In one run, on one database (by default a fresh SQLite file in a temporary directory):

* ``baseline``: the same contact rows (id, account, name, E.164 number, email, created_at) inserted with
  the DBAPI cursor's ``executemany`` in one transaction: the floor the database itself sets;
* ``import``: ``import_contacts_csv`` on ``--lines`` CSV lines ``name,number,email,group`` in one
  transaction (parsing, normalising numbers, duplicate checks against the account's existing contacts,
  creating groups, writing contacts and group memberships);
* a diagnostic: normalising the same numbers through ``normalize_number`` with its cache cleared, the
  share of the import that libphonenumber costs.

Each runs under its own account; the baseline's rows are deleted before the import. The import is then
checked: every line Success, and the account holds exactly ``--lines`` contacts.

Run: ``.venv/bin/python bench/contacts_import.py [--lines 100000] [--database-url URL]``
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make ``textgate`` importable from a source checkout
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from sqlalchemy import delete, func, select

from textgate.domain import phone
from textgate.ids import new_id
from textgate.service.accounts import create_account
from textgate.service.contact_import import SUCCESS, import_contacts_csv
from textgate.store.db import make_engine
from textgate.store.migrate import upgrade
from textgate.store.schema import contacts

GROUPS = 20


def csv_lines(n: int) -> list[str]:
    """Distinct names and valid UK mobile numbers (international digits, as exports have them); an
    email on every other line, one of ``GROUPS`` groups on each."""
    return [
        f"Contact {i},447700{i:06d},{f'c{i}@example.com' if i % 2 else ''},group{i % GROUPS}"
        for i in range(n)
    ]


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="textgate contacts CSV import benchmark")
    p.add_argument("--lines", type=int, default=100_000, help="CSV lines to import (100000)")
    p.add_argument("--database-url", help="an existing database to use (default: a fresh SQLite file)")
    args = p.parse_args(argv)
    if not 0 < args.lines <= 1_000_000:
        p.error("--lines must be between 1 and 1,000,000 (the numbers are 447700000000 + line)")

    workdir = Path(tempfile.mkdtemp(prefix="textgate-import-bench-"))
    url = args.database_url or f"sqlite:///{workdir}/bench.db"
    engine = make_engine(url)
    try:
        upgrade(engine)
        now = datetime.now(UTC)
        with engine.begin() as conn:
            base_account, _ = create_account(conn, "import-bench-baseline", now=now, region="GB")
            account, _ = create_account(conn, "import-bench", now=now, region="GB")
        lines = csv_lines(args.lines)
        text = "\n".join(lines) + "\n"

        # The baseline's rows: what the import ends up writing to ``contacts``, prepared in advance.
        numbers = [line.split(",")[1] for line in lines]
        stamp = (
            now.replace(tzinfo=None).isoformat(" ", "microseconds")
            if engine.dialect.name == "sqlite"
            else now
        )
        rows = [
            (
                new_id("con"),
                base_account.id,
                line.split(",", 1)[0],
                "+" + number,
                (line.split(",")[2] or None),
                stamp,
            )
            for line, number in zip(lines, numbers, strict=True)
        ]
        mark = "?" if engine.dialect.paramstyle == "qmark" else "%s"
        columns, values = "id, account_id, name, number, email, created_at", ", ".join([mark] * 6)
        sql = f"INSERT INTO contacts ({columns}) VALUES ({values})"  # noqa: S608 - placeholders, no data
        raw = engine.raw_connection()
        try:
            started = time.perf_counter()
            cursor = raw.cursor()
            if engine.dialect.name == "sqlite":
                # textgate's SQLite connections leave transaction control to the caller (autocommit
                # otherwise): one explicit transaction, as the import gets.
                cursor.execute("BEGIN IMMEDIATE")
            cursor.executemany(sql, rows)
            raw.commit()
            baseline_s = time.perf_counter() - started
        finally:
            raw.close()
        with engine.begin() as conn:
            conn.execute(delete(contacts).where(contacts.c.account_id == base_account.id))

        progress_calls: list[int] = []
        started = time.perf_counter()
        with engine.begin() as conn:
            report = import_contacts_csv(
                conn, account, text, now=now, progress=lambda done, total: progress_calls.append(done)
            )
        import_s = time.perf_counter() - started

        phone._normalize.cache_clear()
        started = time.perf_counter()
        for number in numbers:
            phone.normalize_number(number, region="GB")
        normalise_s = time.perf_counter() - started

        with engine.connect() as conn:
            stored = conn.execute(
                select(func.count()).select_from(contacts).where(contacts.c.account_id == account.id)
            ).scalar_one()
    finally:
        engine.dispose()
        shutil.rmtree(workdir, ignore_errors=True)

    n = args.lines
    ok = report.count(SUCCESS) == n and stored == n
    where = "given URL" if args.database_url else "temporary file"
    print(f"database: {engine.dialect.name} ({where}); {n:,} lines, one transaction each")
    print(
        f"baseline  raw executemany of the contact rows: {baseline_s:7.3f} s {n / baseline_s:>9,.0f} rows/s"
    )
    print(f"import    import_contacts_csv:                 {import_s:7.3f} s {n / import_s:>9,.0f} lines/s")
    print(f"ratio     import / baseline throughput:        {baseline_s / import_s:7.1%}")
    print(
        f"diag      normalize_number alone, uncached:    {normalise_s:7.3f} s "
        f"({normalise_s / import_s:.0%} of the import's time)"
    )
    verdict = "OK" if ok else "MISMATCH"
    print(f"check     {report.count(SUCCESS):,} Success lines, {stored:,} contacts stored: {verdict}")
    print(f"progress  reported {len(progress_calls)} times")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
