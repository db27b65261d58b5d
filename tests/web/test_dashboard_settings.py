"""The Settings page over HTTP: an account changes its own preferences (checked as the service checks
them, nothing half-written) and sees the operator's settings read-only; an operator changes those too;
CSRF."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from tests.helpers import Tenant
from tests.web.dashboard_kit import csrf_of, sign_in
from textgate.service.accounts import Account, get_account
from textgate.service.optouts import DEFAULT_HELP_TEXT, DEFAULT_STOP_TEXT, keyword_reply

Setup = tuple[TestClient, Engine, Tenant, Tenant]


def _form(client: TestClient, account: str = "", **changes: str) -> dict[str, str]:
    page = client.get("/dashboard/settings" + (f"?account={account}" if account else ""))
    assert page.status_code == 200
    values = {
        "csrf": csrf_of(page.text),
        "account": account,
        "region": "US",
        "timezone": "",
        "stop_text": DEFAULT_STOP_TEXT,
        "start_text": "You are subscribed again. Reply STOP to unsubscribe.",
        "help_text": DEFAULT_HELP_TEXT,
        "bestsms_max_parts": "1",
        "bestsms_reply_window_hours": "72",
        "bestsms_from": "",
    }
    values.update(changes)
    return values


def _account(engine: Engine, tenant: Tenant) -> Account:
    with engine.connect() as conn:
        return get_account(conn, tenant.account.id)


def test_an_account_sees_its_settings_and_the_operators_read_only(setup: Setup) -> None:
    client, _engine, _acme, _other = setup
    sign_in(client, "acme-admin")
    page = client.get("/dashboard/settings")
    assert page.status_code == 200
    for label in ("Region (for national numbers)", "Time zone", "Reply to STOP", "BestSMS part limit"):
        assert f">{label}</label>" in page.text, label
    assert 'id="operator-settings"' in page.text and 'id="field-price_sms_part">1<' in page.text
    assert 'name="price_sms_part"' not in page.text and 'name="owned_senders_only"' not in page.text
    assert "STOPALL" in page.text  # the keywords


def test_an_account_changes_its_preferences(setup: Setup) -> None:
    client, engine, acme, _other = setup
    sign_in(client, "acme-admin")
    form = _form(
        client,
        timezone="Europe/London",
        region="gb",
        stop_text="Bye from Acme.",
        help_text="",
        bestsms_max_parts="3",
        stop_words="parar, arret",
        help_words="ayuda",
        # An account's form cannot change what only an operator may.
        price_sms_part="0",
        owned_senders_only="on",
    )
    r = client.post("/dashboard/settings", data=form, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/dashboard/settings?done=saved"
    shown = client.get(r.headers["location"])
    assert "Settings saved." in shown.text and 'value="Europe/London"' in shown.text
    account = _account(engine, acme)
    assert account.region == "GB" and account.zone.key == "Europe/London"
    settings = account.settings
    assert settings["bestsms_max_parts"] == 3
    assert (settings["stop_words"], settings["help_words"]) == (["PARAR", "ARRET"], ["AYUDA"])
    assert "start_words" not in settings and 'value="PARAR, ARRET"' in shown.text
    assert keyword_reply(settings, "stop") == "Bye from Acme."
    assert keyword_reply(settings, "help") is None  # empty: no reply
    assert keyword_reply(settings, "start") is not None and "start_text" not in settings  # the default
    assert account.prices.sms_part == 1 and account.owned_senders_only is False


def test_errors_name_the_field_and_nothing_is_half_written(setup: Setup) -> None:
    client, engine, acme, _other = setup
    sign_in(client, "acme-admin")
    cases = {
        "timezone": ("Mars/Olympus", "Time zone: "),
        "region": ("XX", "Region (for national numbers): "),
        "bestsms_max_parts": ("0", "BestSMS part limit: "),
        "bestsms_from": ("a sender far too long", "BestSMS default sender: "),
        "stop_words": ("PARAR yes", "Extra STOP keywords: "),
    }
    for field, (value, label) in cases.items():
        form = _form(client, stop_text="should not be kept", **{field: value})
        r = client.post("/dashboard/settings", data=form)
        assert r.status_code == 400, field
        assert label in r.text and 'role="alert"' in r.text, field
        assert "should not be kept" in r.text  # the form as typed
    account = _account(engine, acme)
    assert account.settings == {} and account.region == "US"


def test_an_operator_changes_the_operators_settings(setup: Setup) -> None:
    client, engine, _acme, other = setup
    sign_in(client, "ops", operator="1")
    assert '<label for="account">Account id</label>' in client.get("/dashboard/settings").text
    form = _form(
        client,
        account=other.account.id,
        price_sms_part="2",
        price_mms="5",
        bestsms_price_per_credit="0.05",
        owned_senders_only="on",
        strict_numbers="on",
        allowed_destination_prefixes="+1, +44",
        blocked_prefixes="",
        daily_limit_per_number="4",
        status="active",
    )
    r = client.post("/dashboard/settings", data=form, follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == f"/dashboard/settings?account={other.account.id}&done=saved"
    account = _account(engine, other)
    assert account.prices.sms_part == 2 and account.prices.mms == 5
    assert account.owned_senders_only is True
    assert account.settings == {
        "bestsms_price_per_credit": "0.05",
        "strict_numbers": True,
        "allowed_destination_prefixes": ["+1", "+44"],
        "daily_limit_per_number": 4,
    }
    page = client.get(r.headers["location"])
    assert 'name="owned_senders_only" value="on" checked' in page.text
    assert 'value="+1, +44"' in page.text

    # Unticked boxes are off again; a bad prefix is refused naming the field.
    bad = _form(
        client, account=other.account.id, price_sms_part="2", price_mms="5", allowed_destination_prefixes="44"
    )
    r = client.post("/dashboard/settings", data=bad)
    assert r.status_code == 400 and "Allowed destination prefixes: " in r.text
    assert _account(engine, other).owned_senders_only is True
    off = _form(client, account=other.account.id, price_sms_part="2", price_mms="5", status="active")
    assert client.post("/dashboard/settings", data=off, follow_redirects=False).status_code == 303
    account = _account(engine, other)
    assert account.owned_senders_only is False and "strict_numbers" not in account.settings
    assert client.get("/dashboard/settings?account=acc_nope").status_code == 404


def test_a_post_without_the_csrf_token_is_refused(setup: Setup) -> None:
    client, engine, acme, _other = setup
    sign_in(client, "acme-admin")
    form = _form(client, timezone="Asia/Tokyo")
    del form["csrf"]
    assert client.post("/dashboard/settings", data=form).status_code == 403
    assert _account(engine, acme).settings == {}
