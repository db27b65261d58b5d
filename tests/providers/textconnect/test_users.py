"""CreateUser and UpdateCredits: admin-only child users, credits moved between parent and child."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from tests.helpers import ManualClock, Tenant, make_tenant
from tests.providers.textconnect import seed
from tests.providers.textconnect.util import PATH, text
from textgate.service.accounts import NewKey, balance
from textgate.service.users import create_user, get_user

USER = {
    "ChildUsername": "bob.smith",
    "ChildPassword": "correct-horse",
    "AccessLevel": "Normal",
    "FirstName": "Bob",
    "LastName": "Smith",
    "Email": "bob@example.com",
}


def _child(engine: Engine, parent: Tenant, clock: ManualClock, username: str, credits: int = 0) -> NewKey:
    with engine.begin() as conn:
        _, key = create_user(
            conn,
            parent.account,
            username=username,
            password="correct-horse",
            access_level="normal",
            first_name="Ann",
            last_name="Lee",
            email="ann@example.com",
            credits=credits,
            now=clock(),
        )
    return key


def _balance_of(engine: Engine, parent: Tenant, username: str) -> int:
    with engine.connect() as conn:
        return balance(conn, get_user(conn, parent.account, username).id)


def test_the_documents_create_user_example(client: TestClient, tenant: Tenant, engine: Engine) -> None:
    values = {
        "Child Username": "bob.smith",
        "Child Password": "correct-horse",
        "User\u2019s First Name": "Bob",
        "User\u2019s Last Name": "Smith",
        "User\u2019s Email": "bob@example.com",
    }
    response = client.get(f"{PATH}?{seed.example_query(seed.CREATE_USER_URL, tenant.key.secret, **values)}")
    assert response.text == "1"
    with engine.connect() as conn:
        child = get_user(conn, tenant.account, "bob.smith")
        assert (child.access_level, child.parent_id) == ("normal", tenant.account.id)
        assert child.profile is not None and child.profile["email"] == "bob@example.com"
        assert balance(conn, child.id) == 5 and balance(conn, tenant.account.id) == 95


def test_optional_details(client: TestClient, tenant: Tenant, engine: Engine) -> None:
    extra = {"Telephone": "07777777123", "Credit Reminder": "10", "Alert": "30", "AccessLevel": "admin"}
    assert text(client, tenant, "CreateUser", method="POST", **{**USER, **extra}) == "1"
    with engine.connect() as conn:
        child = get_user(conn, tenant.account, "bob.smith")
    assert child.access_level == "admin"
    assert child.profile is not None
    assert (child.profile["telephone"], child.profile["credit_reminder"], child.profile["alert_days"]) == (
        "+447777777123",
        10,
        30,
    )


def test_missing_details_are_listed_beneath_the_code(client: TestClient, tenant: Tenant) -> None:
    answer = text(client, tenant, "CreateUser", ChildUsername="bob.smith", FirstName="Bob")
    assert answer.split("\n") == [
        "-507",
        "Invalid/Missing Details",
        "Missing: ChildPassword, AccessLevel, LastName, Email",
    ]
    # ShowErrorMessage changes nothing: CreateUser always explains.
    assert text(client, tenant, "CreateUser", ShowErrorMessage="1", ChildUsername="bob.smith").startswith(
        "-507\nInvalid/Missing Details\nMissing: "
    )


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"AccessLevel": "Boss"}, "AccessLevel must be Normal or Admin"),
        ({"Email": "not-an-email"}, "Email: "),
        ({"ChildPassword": "short"}, "ChildPassword: "),
        ({"ChildUsername": "b!"}, "ChildUsername: "),
        ({"Credits": "lots"}, "Credits must be a whole number"),
        ({"Credits": "-5"}, "Credits: "),
        ({"Telephone": "call me"}, "Telephone: "),
    ],
)
def test_invalid_details(
    client: TestClient, tenant: Tenant, engine: Engine, change: dict[str, str], reason: str
) -> None:
    code, title, detail = text(client, tenant, "CreateUser", **{**USER, **change}).split("\n")
    assert (code, title) == ("-507", "Invalid/Missing Details")
    assert detail.startswith(reason), detail
    with engine.connect() as conn:
        assert balance(conn, tenant.account.id) == 100


def test_a_taken_username(client: TestClient, tenant: Tenant, engine: Engine, clock: ManualClock) -> None:
    other = make_tenant(engine, name="other", number="+447777777003", region="GB", now=clock())
    _child(engine, other, clock, "Bob.Smith")
    code, title, detail = text(client, tenant, "CreateUser", **USER).split("\n")
    assert (code, title) == ("-508", "Error Creating User")
    assert "taken" in detail


def test_a_normal_user_cannot_create_users(
    client: TestClient, tenant: Tenant, engine: Engine, clock: ManualClock
) -> None:
    key = _child(engine, tenant, clock, "ann.lee")
    answer = text(client, None, "CreateUser", Token=key.secret, **USER)
    assert answer.split("\n") == ["-508", "Error Creating User", "Only admin users can create users"]


def test_starting_credits_the_parent_cannot_cover(client: TestClient, tenant: Tenant, engine: Engine) -> None:
    code, title, detail = text(client, tenant, "CreateUser", **{**USER, "Credits": "101"}).split("\n")
    assert (code, title) == ("-100", "Not Enough Credits")
    assert "101" in detail
    with engine.connect() as conn:
        assert balance(conn, tenant.account.id) == 100
    assert text(client, tenant, "CreateUser", **{**USER, "Credits": "100"}) == "1"  # nothing half made


def test_update_credits_both_ways(
    client: TestClient, tenant: Tenant, engine: Engine, clock: ManualClock
) -> None:
    _child(engine, tenant, clock, "ann.lee")
    query = seed.example_query(seed.UPDATE_CREDITS_URL, tenant.key.secret, **{"Child Username": "ann.lee"})
    assert client.get(f"{PATH}?{query}").text == "1"
    assert _balance_of(engine, tenant, "ann.lee") == 5
    assert text(client, tenant, "UpdateCredits", method="POST", ChildUsername="ann.lee", Quantity="-3") == "1"
    assert _balance_of(engine, tenant, "ann.lee") == 2
    assert text(client, tenant, "CheckCredits") == "98"


def test_update_credits_errors(
    client: TestClient, tenant: Tenant, engine: Engine, clock: ManualClock
) -> None:
    _child(engine, tenant, clock, "ann.lee", credits=2)
    other = make_tenant(engine, name="other", number="+447777777003", region="GB", now=clock())
    _child(engine, other, clock, "their.user", credits=50)
    cases = [
        ({"ChildUsername": "their.user", "Quantity": "5"}, "-509"),  # someone else's child
        ({"ChildUsername": "nobody", "Quantity": "5"}, "-509"),
        ({"ChildUsername": "ann.lee", "Quantity": "-3"}, "-510"),
        ({"ChildUsername": "ann.lee", "Quantity": "101"}, "-100"),
        ({"ChildUsername": "ann.lee", "Quantity": "abc"}, "-702"),
        ({"ChildUsername": "ann.lee", "Quantity": "0"}, "-702"),
        ({"ChildUsername": "ann.lee", "Quantity": "1.5"}, "-702"),
        ({"ChildUsername": "ann.lee"}, "-702"),
        ({"ChildUsername": "ann.lee", "Quantity": str(10**13)}, "-702"),
        ({"Quantity": "5"}, "-701"),
        ({"ChildUsername": " ", "Quantity": "5"}, "-701"),
    ]
    for params, code in cases:
        assert text(client, tenant, "UpdateCredits", **params) == code, params
    assert text(
        client, tenant, "UpdateCredits", ShowErrorMessage="", ChildUsername="ann.lee", Quantity="-3"
    ) == ("-510\nYou cannot set a user\u2019s credits to be less than 0")
    assert _balance_of(engine, tenant, "ann.lee") == 2
    assert _balance_of(engine, other, "their.user") == 50
    assert text(client, tenant, "CheckCredits") == "98"


def test_a_normal_user_has_no_users(
    client: TestClient, tenant: Tenant, engine: Engine, clock: ManualClock
) -> None:
    key = _child(engine, tenant, clock, "ann.lee")
    assert (
        text(client, None, "UpdateCredits", Token=key.secret, ChildUsername="ann.lee", Quantity="1") == "-509"
    )
