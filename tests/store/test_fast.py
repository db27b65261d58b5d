"""Multi-row writes (``store/fast.py``) on both databases: what lands in the table, through the columns'
own types (UTC timestamps, JSON), across statement chunks, with Python-side defaults kept, and guarded
updates that change only the rows whose guard holds."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import JSON, Column, Engine, Integer, MetaData, String, Table, insert, select

from textgate.store import fast
from textgate.store.schema import TS

_meta = MetaData()
rows_table = Table(
    "fast_scratch",
    _meta,
    Column("key", String(40), primary_key=True),
    Column("status", String(12), nullable=False),
    Column("at", TS, nullable=True),
    Column("detail", JSON(none_as_null=True), nullable=True),
    Column("n", Integer, nullable=False),
    Column("origin", String(12), nullable=False, default="defaulted"),
    Column("plain", JSON, nullable=True),  # JSON whose None is stored as JSON null, not SQL NULL
)

T0 = datetime(2026, 3, 4, 5, 6, 7, 891011, tzinfo=UTC)


@pytest.fixture
def table(engine: Engine) -> Iterator[Engine]:
    _meta.create_all(engine)
    yield engine


def read(engine: Engine) -> dict[str, dict[str, Any]]:
    with engine.connect() as conn:
        return {r.key: dict(r._mapping) for r in conn.execute(select(rows_table))}


def row(i: int, **over: Any) -> dict[str, Any]:
    base = {
        "key": f"k{i:05d}",
        "status": "queued",
        "at": T0 + timedelta(microseconds=i),
        "detail": {"i": i, "text": "ünïcode"} if i % 3 else None,
        "n": i,
        "origin": "given",
        "plain": None if i % 2 else ["x", i],
    }
    return {**base, **over}


def test_insert_rows_across_chunks_keeps_every_value(table: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fast, "MAX_ROWS", 7)  # 50 rows: 8 statements on SQLite
    wanted = [row(i) for i in range(50)]
    with table.begin() as conn:
        fast.insert_rows(conn, rows_table, wanted)
    got = read(table)
    assert got == {r["key"]: r for r in wanted}
    assert got["k00001"]["at"] == T0 + timedelta(microseconds=1) and got["k00001"]["at"].tzinfo is not None
    assert got["k00003"]["detail"] is None


def test_insert_rows_applies_python_defaults_left_out(table: Engine) -> None:
    wanted = [{k: v for k, v in row(i).items() if k != "origin"} for i in range(3)]
    with table.begin() as conn:
        fast.insert_rows(conn, rows_table, wanted)
    assert {r["origin"] for r in read(table).values()} == {"defaulted"}


def test_insert_rows_of_nothing_writes_nothing(table: Engine) -> None:
    with table.begin() as conn:
        fast.insert_rows(conn, rows_table, [])
    assert read(table) == {}


def test_update_rows_changes_only_rows_whose_guard_holds(
    table: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fast, "MAX_ROWS", 4)
    with table.begin() as conn:
        fast.insert_rows(conn, rows_table, [row(i) for i in range(10)])
        fast.update_rows(conn, rows_table, ("key",), ("status",), [("k00009", "sent")])
    later = T0 + timedelta(hours=1)
    moves = [(f"k{i:05d}", "queued", "sent", later, {"moved": i}) for i in range(10)]
    moves.append(("k99999", "queued", "sent", later, None))  # no such row
    with table.begin() as conn:
        changed = fast.update_rows(conn, rows_table, ("key", "status"), ("status", "at", "detail"), moves)
    assert changed == 9  # k00009 was no longer queued, k99999 does not exist
    got = read(table)
    assert set(got) == {f"k{i:05d}" for i in range(10)}
    for i in range(9):
        assert (got[f"k{i:05d}"]["status"], got[f"k{i:05d}"]["at"]) == ("sent", later)
        assert got[f"k{i:05d}"]["detail"] == {"moved": i}
        assert got[f"k{i:05d}"]["n"] == i  # columns not named are left alone
    assert got["k00009"]["at"] == T0 + timedelta(microseconds=9)
    assert got["k00009"]["detail"] is None and got["k00009"]["status"] == "sent"


def test_update_rows_matches_timestamps_through_their_type(table: Engine) -> None:
    with table.begin() as conn:
        fast.insert_rows(conn, rows_table, [row(1), row(2)])
        changed = fast.update_rows(
            conn,
            rows_table,
            ("key", "at"),
            ("status",),
            [("k00001", T0 + timedelta(microseconds=1), "done"), ("k00002", T0, "done")],
        )
    assert changed == 1
    assert {k: r["status"] for k, r in read(table).items()} == {"k00001": "done", "k00002": "queued"}


def test_an_unknown_column_is_refused_before_anything_is_written(table: Engine) -> None:
    with pytest.raises(KeyError), table.begin() as conn:
        fast.insert_rows(conn, rows_table, [{**row(1), "nope": 1}])
    assert read(table) == {}


def test_stored_values_are_what_sqlalchemy_itself_would_store(table: Engine) -> None:
    ours = [row(i) for i in range(4)]
    theirs = [{**r, "key": "sa-" + r["key"]} for r in ours]  # the same values, written by SQLAlchemy
    with table.begin() as conn:
        fast.insert_rows(conn, rows_table, ours)
        conn.execute(insert(rows_table), theirs)
    with table.connect() as conn:
        stored = conn.exec_driver_sql("SELECT key, at, detail, plain FROM fast_scratch")
        raw = {r[0]: tuple(r[1:]) for r in stored}
    assert len(raw) == 8
    for r in ours:
        assert raw[r["key"]] == raw["sa-" + r["key"]]


def test_fetch_dicts_reads_what_sqlalchemy_reads(table: Engine) -> None:
    wanted = [row(i, status="sent" if i % 4 else "queued") for i in range(60)]
    wanted[5]["detail"] = {"nested": {"list": [1, 2.5, None, '"quoted" \\ and \u2603']}}
    wanted[6]["status"] = "123"  # text that looks like a number stays text
    with table.begin() as conn:
        fast.insert_rows(conn, rows_table, wanted)
    query = (
        select(rows_table).where(rows_table.c.status != "queued").order_by(rows_table.c.at.desc()).limit(25)
    )
    with table.connect() as conn:
        expected = [dict(r._mapping) for r in conn.execute(query)]
        got = fast.fetch_dicts(conn, query)
        assert len(got) == 25
        assert got == expected  # same values, same types, same order
        assert [type(v) for v in got[0].values()] == [type(v) for v in expected[0].values()]
        assert fast.fetch_dicts(conn, query.where(rows_table.c.n < 0)) == []


def test_sqlite_timestamp_reader_keeps_every_value_apart_past_its_memo() -> None:
    from sqlalchemy.dialects import sqlite

    from textgate.store import schema

    bind = schema.TS.bind_processor(sqlite.dialect())
    read = schema.TS.result_processor(sqlite.dialect(), None)
    assert bind is not None and read is not None
    values = [T0 + timedelta(microseconds=i) for i in range(schema.RESULT_MEMO * 3)]
    texts = [bind(v) for v in values]
    for _ in range(2):  # the second pass reads what the first left (or cleared) in the memo
        for text, value in zip(texts, values, strict=True):
            got = read(text)
            assert got == value and got.tzinfo is UTC
            assert read(texts[0]) == values[0]  # another column's value in between
    assert read(None) is None
