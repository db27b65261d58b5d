"""IDs: a prefix and 22 base62 characters, time-ordered to the millisecond, random after that."""

from __future__ import annotations

import re

import pytest

from textgate import ids


def test_format_and_uniqueness() -> None:
    minted = [ids.new_id("msg") for _ in range(2000)]
    assert all(re.fullmatch(r"msg_[0-9A-Za-z]{22}", i) for i in minted)
    assert len(set(minted)) == len(minted)
    # minted in the same millisecond: same time part, different random parts
    assert len({i[12:] for i in minted}) == len(minted)


def test_later_ids_sort_after_earlier_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1_700_000_000_000_000_000]
    monkeypatch.setattr(ids.time, "time_ns", lambda: now[0])
    first = [ids.new_id("evt") for _ in range(50)]
    now[0] += 1_000_000  # one millisecond later
    second = [ids.new_id("evt") for _ in range(50)]
    assert max(first) < min(second)
    assert {i[4:12] for i in first} == {ids.time_part(1_700_000_000_000)}


@pytest.mark.parametrize(
    ("earlier", "later"),
    [(0, 1), (61, 62), (62**4 - 1, 62**4), (1_700_000_000_000, 1_700_000_000_001), (10**13, 62**8 - 1)],
)
def test_time_part_keeps_order(earlier: int, later: int) -> None:
    a, b = ids.time_part(earlier), ids.time_part(later)
    assert len(a) == len(b) == 8
    assert a < b


def test_short_ids_are_all_random(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ids.time, "time_ns", lambda: 0)
    short = {ids.new_id("whw", 8) for _ in range(200)}
    assert len(short) == 200  # no time part shared by all of them
    assert all(re.fullmatch(r"whw_[0-9A-Za-z]{8}", i) for i in short)


def test_ids_minted_in_threads_and_after_fork_are_distinct() -> None:
    import os
    import threading

    minted: list[str] = []
    threads = [
        threading.Thread(target=lambda: minted.extend(ids.new_id("m") for _ in range(500))) for _ in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(minted)) == 2000

    ids.new_id("m")  # the pool now holds bytes a forked child would otherwise reuse
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report its next id's random part, then leave at once
        os.write(write, ids.new_id("m", 16).encode())
        os._exit(0)
    os.waitpid(pid, 0)
    child = os.read(read, 100).decode()
    os.close(read)
    os.close(write)
    assert child != ids.new_id("m", 16)
