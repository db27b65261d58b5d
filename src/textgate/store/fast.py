"""Many rows in one statement, for the hot paths (accepting, status moves, the webhook outbox).

Python's ``sqlite3`` runs an ``executemany`` row by row and releases the GIL around every row's step.
In ``textgate serve`` the event loop (SMPP sessions, HTTP) wants the GIL too, so each of those thousands
of hand-overs can wait for the loop, all while the database thread holds SQLite's one write lock. On
SQLite these helpers therefore write a batch as multi-row statements instead: ``INSERT ... VALUES
(...), (...)`` and ``UPDATE ... FROM (VALUES (...), (...))`` (SQLite 3.33+), a few hundred rows a
statement, one step each, with the columns' own bind processors applied. On PostgreSQL they are plain
SQLAlchemy ``executemany`` calls, which psycopg already pipelines.

The rows of one call must all have the same keys. A table column with a Python-side default that the
rows leave out makes :func:`insert_rows` take the SQLAlchemy path, so defaults are never skipped.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import (
    Connection,
    CursorResult,
    Select,
    Table,
    Update,
    bindparam,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.sql.elements import ColumnElement

#: Bound values per statement: below SQLite's limit of 32,766 (3.32+), and rows per statement, so one
#: statement's text stays small.
MAX_VARIABLES = 30_000
MAX_ROWS = 500

_Processor = Callable[[Any], Any] | None
_PROCESSORS: dict[tuple[int, str, str], _Processor] = {}
_UPDATES: dict[tuple[str, tuple[str, ...], tuple[str, ...]], Update] = {}


def _processor(conn: Connection, table: Table, column: str) -> _Processor:
    key = (id(table), column, conn.dialect.name)
    try:
        return _PROCESSORS[key]
    except KeyError:
        col_type = table.c[column].type.dialect_impl(conn.dialect)
        proc = _PROCESSORS[key] = col_type.bind_processor(conn.dialect)
        return proc


def _chunks(rows: Sequence[Any], width: int) -> list[Sequence[Any]]:
    per = max(1, min(MAX_ROWS, MAX_VARIABLES // max(1, width)))
    return [rows[i : i + per] for i in range(0, len(rows), per)]


def _flat(conn: Connection, table: Table, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[Any]:
    """The rows' values (in ``columns`` order) as one flat list, through the columns' bind processors."""
    procs = [_processor(conn, table, c) for c in columns]
    values: list[Any] = []
    append = values.append
    for row in rows:
        for value, proc in zip(row, procs, strict=True):
            append(value if proc is None else proc(value))
    return values


def _defaults_missing(table: Table, columns: Sequence[str]) -> bool:
    given = set(columns)
    return any(c.default is not None and c.name not in given for c in table.columns)


def insert_rows(conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert ``rows`` (dicts of column values)."""
    if not rows:
        return
    columns = list(rows[0])
    unknown = [c for c in columns if c not in table.c]
    if unknown:  # (SQLAlchemy's executemany would ignore them without a word)
        raise KeyError(f"{table.name} has no column(s) {', '.join(unknown)}")
    if conn.dialect.name != "sqlite" or _defaults_missing(table, columns):
        conn.execute(insert(table), list(rows))
        return
    quote = conn.dialect.identifier_preparer.quote
    # Only identifiers are written into the text (the table's own columns, quoted); values are bound.
    head = f"INSERT INTO {quote(table.name)} ({', '.join(quote(c) for c in columns)}) VALUES "  # noqa: S608
    one = "(" + ", ".join("?" * len(columns)) + ")"
    for chunk in _chunks(rows, len(columns)):
        flat = _flat(conn, table, columns, [[row[c] for c in columns] for row in chunk])
        conn.exec_driver_sql(head + ", ".join([one] * len(chunk)), tuple(flat))


#: ``Connection.info`` key: the group commit's collector of rows to insert (see :func:`insert_later`).
DEFERRED = "textgate_deferred_inserts"


class DeferredInserts:
    """Rows the units of a group commit asked to insert, written together - one multi-row statement a
    table, tables in the order they were first asked for - just before the group commits."""

    def __init__(self) -> None:
        self.rows: dict[Table, list[Mapping[str, Any]]] = {}

    def add(self, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
        self.rows.setdefault(table, []).extend(rows)

    def merge(self, other: DeferredInserts) -> None:
        for table, rows in other.rows.items():
            self.add(table, rows)

    def flush(self, conn: Connection) -> None:
        for table, rows in self.rows.items():
            by_shape: dict[tuple[str, ...], list[Mapping[str, Any]]] = {}
            for row in rows:  # one statement needs one set of columns
                by_shape.setdefault(tuple(row), []).append(row)
            for same in by_shape.values():
                insert_rows(conn, table, same)
        self.rows.clear()


#: ``Connection.info`` key: lookups the units of one group commit share (see :func:`group_lookup`).
GROUP_LOOKUPS = "textgate_group_lookups"


def group_lookup(conn: Connection, key: tuple[Any, ...], fetch: Callable[[], Any]) -> Any:
    """``fetch()``, or - inside a group commit - its answer for an earlier unit of the same group: for
    reads the accept path repeats on every request (the key behind a bearer secret, who owns a sender
    number) and no unit of the group changes."""
    shared = conn.info.get(GROUP_LOOKUPS)
    if shared is None:
        return fetch()
    try:
        return shared[key]
    except KeyError:
        value = shared[key] = fetch()
        return value


def insert_later(conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert ``rows`` now, or - inside a unit of a group commit - together with the group's other rows
    of that table just before the group commits. Only for rows nothing in the same transaction reads
    back; the caller gets no error from them (a failing group is run again unit by unit)."""
    deferred = conn.info.get(DEFERRED)
    if deferred is None:
        insert_rows(conn, table, rows)
    else:
        deferred.add(table, rows)


def update_rows(
    conn: Connection,
    table: Table,
    match: Sequence[str],
    values: Sequence[str],
    rows: Sequence[Sequence[Any]],
) -> int:
    """For each row, ``UPDATE table SET <values> WHERE <match>``: a row holds the ``match`` columns'
    values (compared with ``=``), then the ``values`` columns' new values. A column may be in both (a
    guarded move: ``status`` from one value to another). Returns how many table rows changed.

    The ``match`` columns must pick at most one table row per input row (a key), and no two input rows
    may pick the same table row.
    """
    if not rows:
        return 0
    if conn.dialect.name != "sqlite":
        key = (table.name, tuple(match), tuple(values))
        stmt = _UPDATES.get(key)
        if stmt is None:
            stmt = _UPDATES[key] = (
                update(table)
                .where(*(table.c[c] == bindparam(f"m{i}") for i, c in enumerate(match)))
                .values({c: bindparam(f"s{i}") for i, c in enumerate(values)})
            )
        names = [f"m{i}" for i in range(len(match))] + [f"s{i}" for i in range(len(values))]
        return conn.execute(stmt, [dict(zip(names, row, strict=True)) for row in rows]).rowcount
    quote = conn.dialect.identifier_preparer.quote
    columns = [*match, *values]
    name = quote(table.name)
    sets = ", ".join(f"{quote(c)} = v.column{len(match) + i + 1}" for i, c in enumerate(values))
    where = " AND ".join(f"{name}.{quote(c)} = v.column{i + 1}" for i, c in enumerate(match))
    one = "(" + ", ".join("?" * len(columns)) + ")"
    changed = 0
    for chunk in _chunks(rows, len(columns)):
        rows_sql = ", ".join([one] * len(chunk))
        sql = f"UPDATE {name} SET {sets} FROM (VALUES {rows_sql}) AS v WHERE {where}"  # noqa: S608
        changed += conn.exec_driver_sql(sql, tuple(_flat(conn, table, columns, chunk))).rowcount
    return changed


def dicts(result: CursorResult[Any]) -> list[dict[str, Any]]:
    """A result's rows as dicts (column name to value): a quarter of the cost of ``dict(row._mapping)``
    per row, which builds a mapping view first."""
    keys = list(result.keys())
    return [dict(zip(keys, row, strict=True)) for row in result]


# Keyed by the type object itself (held here, so its id is never reused by another).
_RESULT_PROCESSORS: dict[tuple[Any, str], _Processor] = {}


def _result_processor(conn: Connection, column: ColumnElement[Any]) -> _Processor:
    key = (column.type, conn.dialect.name)
    try:
        return _RESULT_PROCESSORS[key]
    except KeyError:
        col_type = column.type.dialect_impl(conn.dialect)
        proc = _RESULT_PROCESSORS[key] = col_type.result_processor(conn.dialect, None)
        return proc


def fetch_dicts(conn: Connection, query: Select[Any]) -> list[dict[str, Any]]:
    """``query``'s rows as dicts, in its order.

    On SQLite the rows come back as ONE value: the query is wrapped in ``json_group_array(json_array(
    ...))``, so ``sqlite3`` steps once instead of once per row. Each step releases the GIL, and in
    ``serve`` the event loop is waiting for it: the database thread, holding the write lock, then waits
    for the loop before it can read the next row. The columns must be ones JSON carries (text, numbers,
    NULL; no blobs); each goes through its type's result processor, as SQLAlchemy's rows would.
    """
    if conn.dialect.name != "sqlite":
        return dicts(conn.execute(query))
    sub = query.subquery()
    columns = list(sub.c)
    packed = conn.execute(select(func.json_group_array(func.json_array(*columns)))).scalar_one()
    keys = [c.key for c in columns]
    procs = [_result_processor(conn, c) for c in columns]
    rows: list[dict[str, Any]] = []
    append = rows.append
    for values in json.loads(packed):
        append({k: (v if p is None else p(v)) for k, v, p in zip(keys, values, procs, strict=True)})
    return rows
