"""The test SMSC: one node process for the whole session, reset before each test and restarted if a test
killed it. If node or the npm packages are missing the tests fail (never skip) with the reason."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.providers.smpp.peer import Smsc, SmscUnavailable, ensure_installed
from tests.providers.smpp.support import run


@pytest.fixture(scope="session")
def smsc_process() -> Iterator[Smsc]:
    try:
        ensure_installed()
        smsc = Smsc()
        smsc.start()
    except SmscUnavailable as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield smsc
    finally:
        smsc.kill()


@pytest.fixture
def smsc(smsc_process: Smsc) -> Smsc:
    if not smsc_process.alive():
        smsc_process.start()
    run(smsc_process.reset())
    return smsc_process
