"""The Contacts pages over HTTP (TestClient): contacts, groups and lists created, changed and deleted
through their forms, the CSV import with its per-line results, tenancy, CSRF and labelled fields.
The import in a browser: tests/e2e/test_dashboard_contacts_browser.py."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from tests.helpers import Tenant
from tests.web.dashboard_kit import csrf_of, sign_in
from textgate.service.contacts import create_contact, create_group, list_contacts, list_groups
from textgate.service.lists import list_entries, list_lists
from textgate.store.schema import contacts
from textgate.web.dashboard import contacts_import as import_page

Setup = tuple[TestClient, Engine, Tenant, Tenant]


def post(client: TestClient, path: str, page: str, **data: str) -> httpx.Response:
    return client.post(path, data={"csrf": csrf_of(page), **data}, follow_redirects=False)


def unlabelled(html: str) -> list[str]:
    """Ids (or names) of the fields of a page that no <label for=...> names."""
    labels = set(re.findall(r'<label for="([^"]+)"', html))
    missing = []
    for tag in re.findall(r"<(?:input|select|textarea)\b[^>]*>", html):
        if 'type="hidden"' in tag:
            continue
        found = re.search(r'\bid="([^"]+)"', tag)
        if found is None or found.group(1) not in labels:
            missing.append(tag)
    return missing


def test_contacts_are_added_searched_and_deleted(setup: Setup) -> None:
    client, engine, acme, _ = setup
    sign_in(client, "acme-admin")
    page = client.get("/dashboard/contacts")
    assert page.status_code == 200 and unlabelled(page.text) == []
    assert "No contacts yet." in page.text
    r = post(
        client,
        "/dashboard/contacts",
        page.text,
        name="Alice Smith",
        number="(555) 000-0101",
        email="alice@example.com",
        groups="vip, staff",
    )
    assert r.status_code == 303 and r.headers["location"] == "/dashboard/contacts?done=contact-added"
    page = client.get(r.headers["location"])
    assert "Contact added." in page.text
    assert "Alice Smith" in page.text and "+15550000101" in page.text and "staff, vip" in page.text
    groups = re.findall(r'href="/dashboard/contacts/groups/(grp_\w+)">(\w+)</a></td><td>(\d+)', page.text)
    assert sorted((name, n) for _, name, n in groups) == [("staff", "1"), ("vip", "1")]

    assert "Alice Smith" in client.get("/dashboard/contacts?q=alice").text
    assert "Alice Smith" in client.get("/dashboard/contacts?q=0101").text
    assert "No contact matches bob." in client.get("/dashboard/contacts?q=bob").text

    # Refused forms: shown again with 400, the field marked and what was typed kept.
    bad = post(client, "/dashboard/contacts", page.text, name="Bob", number="banana")
    assert bad.status_code == 400 and 'role="alert" id="contact-error"' in bad.text
    assert "number: &#39;banana&#39; is not a valid phone number" in bad.text
    assert re.search(r'id="contact-number"[^>]*value="banana" [^>]*aria-invalid="true"', bad.text)
    assert 'id="contact-name" name="name" required maxlength="200" value="Bob"' in bad.text
    again = post(client, "/dashboard/contacts", page.text, name="Alice Smith", number="+15550000102")
    assert again.status_code == 400 and "a contact with name" in again.text
    assert re.search(r'id="contact-name"[^>]*aria-invalid="true"', again.text)
    empty = post(client, "/dashboard/contacts", page.text, name=" ", number="+15550000102")
    assert empty.status_code == 400 and "name must not be empty" in empty.text

    with engine.connect() as conn:
        [alice], _ = list_contacts(conn, acme.account)
    assert client.post(f"/dashboard/contacts/{alice.id}/delete", data={}).status_code == 403
    r = post(client, f"/dashboard/contacts/{alice.id}/delete", page.text)
    assert r.status_code == 303 and r.headers["location"] == "/dashboard/contacts?done=contact-deleted"
    assert "Alice Smith" not in client.get("/dashboard/contacts").text
    assert post(client, f"/dashboard/contacts/{alice.id}/delete", page.text).status_code == 404


def test_contacts_page_fifty_at_a_time(setup: Setup) -> None:
    client, engine, acme, _ = setup
    now = datetime.now(UTC)
    with engine.begin() as conn:
        for i in range(55):
            create_contact(conn, acme.account, f"Person {i:02}", f"+1555000{i:04}", now=now)
    sign_in(client, "acme-admin")
    first = client.get("/dashboard/contacts").text
    assert first.count("<td>Person ") == 50
    more = re.search(r'href="([^"]+)" rel="next">More contacts', first)
    assert more
    rest = client.get(more.group(1).replace("&amp;", "&")).text
    assert rest.count("<td>Person ") == 5 and "More contacts" not in rest
    assert client.get("/dashboard/contacts?cursor=" + "x" * 80).status_code == 400


def test_groups_are_created_filled_emptied_and_deleted(setup: Setup) -> None:
    client, engine, acme, _ = setup
    now = datetime.now(UTC)
    with engine.begin() as conn:
        create_contact(conn, acme.account, "Ann", "+15550000301", now=now)
        create_contact(conn, acme.account, "Ben", "+15550000302", now=now)
    sign_in(client, "acme-admin")
    page = client.get("/dashboard/contacts").text
    r = post(client, "/dashboard/contacts/groups", page, name="Team")
    assert r.status_code == 303 and r.headers["location"] == "/dashboard/contacts?done=group-added"
    dupe = post(client, "/dashboard/contacts/groups", page, name="Team")
    assert dupe.status_code == 400 and "a group named &#39;Team&#39; already exists" in dupe.text
    assert re.search(r'id="group-name"[^>]*aria-invalid="true"', dupe.text)
    with engine.connect() as conn:
        [team] = list_groups(conn, acme.account)
    path = f"/dashboard/contacts/groups/{team.id}"
    group = client.get(path)
    assert group.status_code == 200 and "Group Team" in group.text and unlabelled(group.text) == []
    r = post(client, f"{path}/members", group.text, contact="555-000-0301")  # by number
    assert r.status_code == 303 and r.headers["location"] == f"{path}?done=member-added"
    assert post(client, f"{path}/members", group.text, contact="Ben").status_code == 303  # by name
    shown = client.get(path).text
    assert "2 members." in shown and "Ann" in shown and "Ben" in shown
    missing = post(client, f"{path}/members", group.text, contact="Nobody")
    assert missing.status_code == 400 and "no contact has the number or name" in missing.text
    assert re.search(r'id="member-contact"[^>]*value="Nobody"[^>]*aria-invalid="true"', missing.text)
    with engine.connect() as conn:
        ann = next(c for c in list_contacts(conn, acme.account)[0] if c.name == "Ann")
    r = post(client, f"{path}/members/remove", group.text, contact_id=ann.id)
    assert r.status_code == 303
    shown = client.get(path).text
    assert "1 member." in shown and "<td>Ann</td>" not in shown
    assert post(client, f"{path}/members/remove", group.text, contact_id=ann.id).status_code == 404
    r = post(client, f"{path}/delete", group.text)
    assert r.status_code == 303 and r.headers["location"] == "/dashboard/contacts?done=group-deleted"
    assert client.get(path).status_code == 404
    assert "Ann" in client.get("/dashboard/contacts").text  # the contacts stay


def test_lists_are_created_filled_and_deleted(setup: Setup) -> None:
    client, engine, acme, _ = setup
    sign_in(client, "acme-admin")
    page = client.get("/dashboard/contacts").text
    r = post(client, "/dashboard/contacts/lists", page, name="Promo", field_names="First name, Code")
    assert r.status_code == 303 and r.headers["location"] == "/dashboard/contacts?done=list-added"
    six = post(client, "/dashboard/contacts/lists", page, name="Six", field_names="a,b,c,d,e,f")
    assert six.status_code == 400 and "at most 5 are allowed" in six.text
    assert re.search(r'id="list-fields"[^>]*aria-invalid="true"', six.text)
    with engine.connect() as conn:
        [promo] = list_lists(conn, acme.account)
    path = f"/dashboard/contacts/lists/{promo.id}"
    shown = client.get(path)
    assert shown.status_code == 200 and unlabelled(shown.text) == []
    assert '<label for="entry-field0">First name</label>' in shown.text
    r = post(
        client,
        f"{path}/entries",
        shown.text,
        number="+15550000401",
        name="Ann",
        email="",
        field0="Ann",
        field1="X-1",
    )
    assert r.status_code == 303 and r.headers["location"] == f"{path}?done=entry-added"
    listed = client.get(path).text
    assert "1 entry." in listed and "<td>X-1</td>" in listed
    with engine.connect() as conn:
        [entry], _ = list_entries(conn, acme.account, promo.id)
    assert entry.fields == ("Ann", "X-1") and entry.name == "Ann"
    bad = post(client, f"{path}/entries", shown.text, number="+15550000402", email="nope")
    assert bad.status_code == 400 and "is not an email address" in bad.text
    assert re.search(r'id="entry-email"[^>]*aria-invalid="true"', bad.text)
    r = post(client, f"{path}/entries/remove", shown.text, number="+15550000401")
    assert r.status_code == 303 and "No entries yet." in client.get(path).text
    r = post(client, f"{path}/delete", shown.text)
    assert r.status_code == 303 and client.get(path).status_code == 404


CSV = (
    "Ann,+15550000201,ann@example.com,vip\n"
    "Bob,not-a-number\n"
    ",+15550000203\n"
    "Cara,+15550000204,bad-email\n"
    '"Dee, Jr.",(555) 000-0205,,staff\n'
    "Ann,+15550000206\n"
)


def result_rows(html: str) -> list[tuple[str, str, str, str]]:
    body = html.split('id="import-lines"')[1].split("</table>")[0]
    return re.findall(
        r"<tr[^>]*>\s*<td>(\d+)</td>\s*<td>(\w+)</td>\s*<td>([^<]+)</td>\s*<td>([^<]*)</td>", body
    )


def test_a_csv_import_reports_every_line_and_keeps_the_good_ones(setup: Setup) -> None:
    client, engine, acme, _ = setup
    sign_in(client, "acme-admin")
    form = client.get("/dashboard/contacts/import")
    assert form.status_code == 200 and unlabelled(form.text) == []
    assert 'enctype="multipart/form-data"' in form.text and 'type="file"' in form.text
    r = client.post(
        "/dashboard/contacts/import",
        data={"csrf": csrf_of(form.text), "duplicates": "refuse"},
        files={"file": ("people.csv", CSV.encode(), "text/csv")},
    )
    assert r.status_code == 200, r.text
    assert "Result of people.csv" in r.text
    assert "6 lines: <strong>3 accepted</strong>, <strong>3 refused</strong>; 3 contacts added" in r.text
    assert result_rows(r.text) == [
        ("1", "accepted", "Success", ""),
        ("2", "refused", "Failed", "Invalid number (not-a-number)"),
        ("3", "refused", "Failed", "No name"),
        ("4", "accepted", "Partial", "Invalid email (bad-email)"),
        ("5", "accepted", "Success", ""),
        ("6", "refused", "Duplicate Name", ""),
    ]
    counts = dict(re.findall(r"<div><dt>([\w ]+)</dt><dd>(\d+)</dd></div>", r.text))
    assert counts == {"Success": "2", "Partial": "1", "Failed": "2", "Duplicate Name": "1"}
    with engine.connect() as conn:
        stored, _ = list_contacts(conn, acme.account)
        groups = {g.name: g.members for g in list_groups(conn, acme.account)}
    assert sorted((c.name, c.number, c.email) for c in stored) == [
        ("Ann", "+15550000201", "ann@example.com"),
        ("Cara", "+15550000204", None),
        ("Dee, Jr.", "+15550000205", None),
    ]
    assert groups == {"staff": 1, "vip": 1}

    # Again, overwriting by number: the same lines update instead of being refused.
    again = client.post(
        "/dashboard/contacts/import",
        data={"csrf": csrf_of(r.text), "duplicates": "overwrite"},
        files={"file": ("people.csv", b"Ann B,+15550000201\n", "text/csv")},
    )
    assert (
        "1 line: <strong>1 accepted</strong>, <strong>0 refused</strong>; 0 contacts added, 1 updated"
        in again.text
    )


def test_a_csv_import_streams_its_progress_before_the_results(setup: Setup) -> None:
    """The page up to the results comes at once, then a progress line every 1,000 lines, then the
    results: a long import shows how far it is without any script."""
    client, engine, acme, _ = setup
    sign_in(client, "acme-admin")
    csrf = csrf_of(client.get("/dashboard/contacts/import").text)
    text = "".join(f"Person {i},+1555{i:07d}\n" for i in range(2500))
    chunks: list[str] = []
    with client.stream(
        "POST",
        "/dashboard/contacts/import",
        data={"csrf": csrf, "duplicates": "refuse"},
        files={"file": ("many.csv", text.encode(), "text/csv")},
    ) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
        assert "default-src 'none'" in r.headers["content-security-policy"]
        assert r.headers.get("set-cookie", "").startswith("textgate_session=")  # the session renewed
        chunks = list(r.iter_text())
    page = "".join(chunks)
    first = page.index("Imported 1,000 of 2,500 lines")
    assert first < page.index("Imported 2,000 of 2,500 lines") < page.index("Result of many.csv")
    assert "Importing many.csv" in chunks[0] and "Result of many.csv" not in chunks[0]
    assert "2500 lines: <strong>2500 accepted</strong>" in page
    assert page.rstrip().endswith("</html>")
    with engine.connect() as conn:
        stored = conn.execute(
            select(func.count()).select_from(contacts).where(contacts.c.account_id == acme.account.id)
        ).scalar_one()
    assert stored == 2500


def test_a_csv_import_refuses_what_is_not_a_csv_file(setup: Setup, monkeypatch: pytest.MonkeyPatch) -> None:
    client, _engine, _acme, _ = setup
    sign_in(client, "acme-admin")
    csrf = csrf_of(client.get("/dashboard/contacts/import").text)
    no_csrf = client.post(
        "/dashboard/contacts/import", files={"file": ("a.csv", b"A,+15550000001", "text/csv")}
    )
    assert no_csrf.status_code == 403
    none = client.post(
        "/dashboard/contacts/import", data={"csrf": csrf}, files={"file": ("", b"", "text/csv")}
    )
    assert none.status_code == 400 and "file: choose a CSV file" in none.text
    assert re.search(r'id="import-file"[^>]*aria-invalid="true"', none.text)
    latin = client.post(
        "/dashboard/contacts/import",
        data={"csrf": csrf},
        files={"file": ("l.csv", "Zoë,+15550000001".encode("latin-1"), "text/csv")},
    )
    assert latin.status_code == 400 and "is not UTF-8 text" in latin.text
    monkeypatch.setattr(import_page, "IMPORT_MAX_BYTES", 10)
    big = client.post(
        "/dashboard/contacts/import",
        data={"csrf": csrf},
        files={"file": ("b.csv", b"x" * 100_000, "text/csv")},
    )
    assert big.status_code == 400 and "larger than" in big.text


def test_another_accounts_contacts_groups_and_lists_are_not_found(setup: Setup) -> None:
    client, engine, acme, other = setup
    now = datetime.now(UTC)
    with engine.begin() as conn:
        theirs = create_contact(conn, other.account, "Secret Person", "+15550000501", now=now)
        their_group = create_group(conn, other.account, "Their group", now=now)
    client.get("/dashboard/login")
    sign_in(client, "other-admin")
    page = client.get("/dashboard/contacts").text
    r = post(client, "/dashboard/contacts/lists", page, name="Their list")
    assert r.status_code == 303
    with engine.connect() as conn:
        [their_list] = list_lists(conn, other.account)
    client.cookies.clear()

    sign_in(client, "acme-admin")
    page = client.get("/dashboard/contacts").text
    assert "Secret Person" not in page and "Their group" not in page and "Their list" not in page
    assert "Secret Person" not in client.get("/dashboard/contacts?q=Secret").text
    # ?account= is for operators: an account sees its own whatever it asks for
    assert "Secret Person" not in client.get(f"/dashboard/contacts?account={other.account.id}").text
    group_path = f"/dashboard/contacts/groups/{their_group.id}"
    list_path = f"/dashboard/contacts/lists/{their_list.id}"
    assert client.get(group_path).status_code == 404
    assert client.get(list_path).status_code == 404
    for path, data in (
        (f"/dashboard/contacts/{theirs.id}/delete", {}),
        (f"{group_path}/delete", {}),
        (f"{group_path}/members", {"contact": "+15550000501"}),
        (f"{group_path}/members/remove", {"contact_id": theirs.id}),
        (f"{list_path}/delete", {}),
        (f"{list_path}/entries", {"number": "+15550000502"}),
        (f"{list_path}/entries/remove", {"number": "+15550000502"}),
    ):
        assert post(client, path, page, **data).status_code == 404, path
    # Their contact cannot be put in one of acme's groups either: for acme it does not exist.
    assert post(client, "/dashboard/contacts/groups", page, name="Mine").status_code == 303
    with engine.connect() as conn:
        [mine] = list_groups(conn, acme.account)
    refused = post(client, f"/dashboard/contacts/groups/{mine.id}/members", page, contact="+15550000501")
    assert refused.status_code == 400
    with engine.connect() as conn:
        assert list_contacts(conn, other.account)[0][0].name == "Secret Person"  # untouched
        assert [g.name for g in list_groups(conn, other.account)] == ["Their group"]


def test_an_operator_manages_any_accounts_contacts(setup: Setup) -> None:
    client, engine, _acme, other = setup
    sign_in(client, "ops", operator="1")
    prompt = client.get("/dashboard/contacts")
    assert prompt.status_code == 200 and "Enter an account id" in prompt.text
    page = client.get(f"/dashboard/contacts?account={other.account.id}")
    assert page.status_code == 200 and unlabelled(page.text) == []
    r = post(
        client,
        "/dashboard/contacts",
        page.text,
        account=other.account.id,
        name="Op Made",
        number="+15550000601",
    )
    assert r.status_code == 303
    assert r.headers["location"] == f"/dashboard/contacts?account={other.account.id}&done=contact-added"
    with engine.connect() as conn:
        assert [c.name for c in list_contacts(conn, other.account)[0]] == ["Op Made"]
    assert client.get("/dashboard/contacts?account=acc_nobody").status_code == 404
    form = client.get(f"/dashboard/contacts/import?account={other.account.id}")
    imported = client.post(
        f"/dashboard/contacts/import?account={other.account.id}",
        data={"csrf": csrf_of(form.text), "account": other.account.id},
        files={"file": ("x.csv", b"Imported,+15550000602\n", "text/csv")},
    )
    assert imported.status_code == 200 and "1 accepted" in imported.text
    with engine.connect() as conn:
        assert len(list_contacts(conn, other.account)[0]) == 2
