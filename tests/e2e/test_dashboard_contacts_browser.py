"""The Contacts and Messages pages in a real browser (Playwright driving Debian's chromium, as
tests/e2e/test_dashboard_browser.py) against ``textgate serve``: a CSV file imported through the file
input and its per-line results, a text search of the messages, a reply threaded to the message it
answers, and the CSV download of the filter."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.dashboard_kit import NUMBER, dashboard_server, send, sign_in, unlabelled
from tests.e2e.harness import Server, cli

pytestmark = pytest.mark.e2e

CSV = (
    "Ann Archer,+15550000201,ann@example.com,vip\n"
    "Bob Broken,not-a-number\n"
    "Cara Cole,+15550000204,bad-email\n"
    "Ann Archer,+15550000206\n"
)


@pytest.fixture(scope="module")
def gateway(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Server, dict[str, Any], dict[str, Any]]]:
    yield from dashboard_server(tmp_path_factory)


def signed_in(page: Any, server: Server) -> None:
    sign_in(page, server.url, "acme-admin")
    page.wait_for_url(f"{server.url}/dashboard")


def test_import_a_csv_file_and_see_every_line(
    gateway: tuple[Server, dict[str, Any], dict[str, Any]], page: Any, tmp_path: Path
) -> None:
    server, _acme, _ = gateway
    upload = tmp_path / "people.csv"
    upload.write_text(CSV, encoding="utf-8")
    signed_in(page, server)

    page.get_by_role("link", name="Contacts").click()
    page.get_by_role("link", name="Import contacts from a CSV file").click()
    page.get_by_label("CSV file").set_input_files(str(upload))
    page.get_by_label("Duplicates").select_option("refuse")
    page.get_by_role("button", name="Import").click()
    page.locator("#import-result").wait_for()

    summary = page.locator("#import-summary").inner_text()
    assert summary.startswith("4 lines: 2 accepted, 2 refused; 2 contacts added"), summary
    rows = [
        [cell.strip() for cell in row.split("\t")]
        for row in page.locator("#import-lines tbody tr").all_inner_texts()
    ]
    assert rows == [
        ["1", "accepted", "Success", ""],
        ["2", "refused", "Failed", "Invalid number (not-a-number)"],
        ["3", "accepted", "Partial", "Invalid email (bad-email)"],
        ["4", "refused", "Duplicate Name", ""],
    ]
    assert page.locator("#import-progress").is_hidden()

    page.get_by_role("link", name="Back to the contacts").click()
    book = page.locator("#contacts")
    assert book.get_by_role("cell", name="Ann Archer", exact=True).count() == 1
    assert book.get_by_role("cell", name="Cara Cole", exact=True).count() == 1
    assert book.get_by_role("cell", name="Bob Broken", exact=True).count() == 0
    page.get_by_label("Search by name or number").fill("cara")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r".*q=cara"))
    assert page.locator("#contacts tbody tr").count() == 1

    for path in ("/dashboard/contacts", "/dashboard/contacts/import"):
        page.goto(f"{server.url}{path}")
        missing = unlabelled(page)
        assert missing == [], (path, missing)


def test_search_messages_by_text_see_a_reply_and_download_the_csv(
    gateway: tuple[Server, dict[str, Any], dict[str, Any]], page: Any
) -> None:
    server, acme, other = gateway
    asked = send(server, acme["secret"], NUMBER, "Order 100% ready: collect at =desk")
    send(server, acme["secret"], NUMBER, "Order 100 percent later", to="+15550000002")
    send(server, other["secret"], "+15551238888", "Order 100% of other's")
    cli(server.env, "simulate", "inbound", "--from", "+15550000001", "--to", NUMBER, "On my way")
    signed_in(page, server)

    page.get_by_role("link", name="Messages").click()
    page.get_by_label("Text contains").fill("order 100%")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r".*text=order"))
    rows = page.locator("#messages tbody tr")
    assert rows.count() == 1 and "Order 100% ready" in rows.first.inner_text()

    with page.expect_download() as info:
        page.get_by_role("link", name="Download CSV").click()
    download = info.value
    assert re.fullmatch(r"messages-\d{8}-\d{6}\.csv", download.suggested_filename)
    table = list(csv.reader(io.StringIO(Path(download.path()).read_text(encoding="utf-8"))))
    assert table[0] == [
        "id", "created", "direction", "from", "to", "status", "error", "segments", "credits", "body"
    ]  # fmt: skip
    assert [row[0] for row in table[1:]] == [asked]
    assert table[1][9] == "Order 100% ready: collect at =desk"

    # The reply, threaded: the list links it to the message it answers, which lists it under Replies.
    page.get_by_label("Text contains").fill("on my way")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r".*text=on"))
    page.locator("#messages a.reply-to").click()
    page.wait_for_url(f"{server.url}/dashboard/messages/{asked}")
    assert "On my way" in page.locator("#replies").inner_text()
