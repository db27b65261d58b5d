"""The dashboard's sessions, CSRF tokens and sign-in throttle.

* A session is a signed cookie (``itsdangerous``, keyed by :func:`~textgate.service.operators.shared_secret`
  so every node and API process accepts it): who signed in (an account or an operator), a random session
  id, and when. It is ``HttpOnly``, ``SameSite=Lax``, ``Secure`` when the request came over HTTPS, and
  expires after :data:`IDLE_SECONDS` without a page view (each view renews it).
* Every form and state-changing request carries a CSRF token, an HMAC of the session id (the sign-in
  form's, of a pre-session cookie): a POST without the right one is refused with 403.
* Sign-in is throttled per username and per client address, in the database so that every node and
  API process counts alike: see :mod:`textgate.service.signin_throttle`.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from fastapi import Request, Response
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

COOKIE = "textgate_session"
PRE_COOKIE = "textgate_signin"
IDLE_SECONDS = 30 * 60


@dataclass(frozen=True, slots=True)
class Session:
    kind: str  # "account" or "operator"
    subject: str  # the account's or operator's id
    sid: str


class Sessions:
    def __init__(self, secret: str) -> None:
        self._secret = secret.encode()
        self._signer = URLSafeTimedSerializer(secret, salt="textgate-dashboard-session")

    # -- cookies ----------------------------------------------------------------------------------------
    def read(self, request: Request) -> Session | None:
        raw = request.cookies.get(COOKIE)
        if not raw:
            return None
        try:
            data = self._signer.loads(raw, max_age=IDLE_SECONDS)
        except (BadSignature, SignatureExpired):
            return None
        if not isinstance(data, dict) or data.get("kind") not in ("account", "operator"):
            return None
        return Session(kind=data["kind"], subject=str(data["id"]), sid=str(data["sid"]))

    def write(self, request: Request, response: Response, session: Session) -> None:
        value = self._signer.dumps({"kind": session.kind, "id": session.subject, "sid": session.sid})
        _set_cookie(request, response, COOKIE, value)

    @staticmethod
    def new(kind: str, subject: str) -> Session:
        return Session(kind=kind, subject=subject, sid=secrets.token_urlsafe(18))

    @staticmethod
    def clear(response: Response) -> None:
        response.delete_cookie(COOKIE, path="/dashboard")

    # -- CSRF -------------------------------------------------------------------------------------------
    def csrf_token(self, sid: str) -> str:
        return hmac.new(self._secret, f"csrf:{sid}".encode(), hashlib.sha256).hexdigest()

    def csrf_ok(self, sid: str, token: str | None) -> bool:
        if not token:
            return False
        given = str(token).encode("utf-8", "surrogatepass")  # any text a client sends, in constant time
        return hmac.compare_digest(self.csrf_token(sid).encode(), given)

    def pre_session(self, request: Request) -> str:
        """The sign-in form's own id (a cookie), so the form has a CSRF token before anyone signs in."""
        return request.cookies.get(PRE_COOKIE) or secrets.token_urlsafe(18)

    @staticmethod
    def write_pre_session(request: Request, response: Response, sid: str) -> None:
        _set_cookie(request, response, PRE_COOKIE, sid)


def _set_cookie(request: Request, response: Response, name: str, value: str) -> None:
    """A session cookie: ``HttpOnly``, ``SameSite=Lax``, ``Secure`` over HTTPS, for IDLE_SECONDS."""
    response.set_cookie(
        name,
        value,
        max_age=IDLE_SECONDS,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
        path="/dashboard",
    )
