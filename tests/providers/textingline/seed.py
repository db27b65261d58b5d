"""TextingLine's own examples, copied verbatim from its "Send a Message" page, and how the tests run them.

The curl commands are run as written; the only substitutions are the host (textgate's instead of
platform.textingline.com), the ``-u`` credentials (a textgate API key instead of
``your_key_id:your_key_secret``) and, for the MMS example, the media URL (a local HTTP server's instead
of https://example.com/...).
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass
from typing import Any

SMS_CURL = r"""curl -X POST https://platform.textingline.com/api/v1/messaging/message \
-u "your_key_id:your_key_secret" \
-H "Content-Type: application/json" \
-d '{
"to": "+18005551234",
"from": "+18005559876",
"body": "Your verification code is 482910"
}'"""

MMS_CURL = r"""curl -X POST https://platform.textingline.com/api/v1/messaging/message \
-u "your_key_id:your_key_secret" \
-H "Content-Type: application/json" \
-d '{
"to": "+18005551234",
"from": "+18005559876",
"body": "Check out our new collection!",
"mediaUrl": "https://example.com/images/promo.jpg"
}'"""

RESPONSE = """{
"id": "msg_DsAdb4EBYBh3z25sBA1qnv",
"direction": "outbound",
"to": "+18005551234",
"from": "+18005559876",
"body": "Your verification code is 482910",
"status": "sent",
"sentAt": "2026-03-15T14:30:05.000Z",
"createdAt": "2026-03-15T14:30:00.000Z"
}"""

FAILED_RESPONSE = """{
"id": "msg_Hp2sABcDeFgHiJkLmNoPqR",
"direction": "outbound",
"to": "+18005551234",
"from": "+18005559876",
"body": "Your verification code is 482910",
"status": "failed",
"errorType": "opted_out",
"errorMessage": "The recipient has opted out from receiving messages from this sender.",
"createdAt": "2026-03-15T14:30:00.000Z"
}"""

SEED_HOST = "https://platform.textingline.com"
SEED_CREDENTIALS = "your_key_id:your_key_secret"
SEED_MEDIA_URL = "https://example.com/images/promo.jpg"
#: The seed's example numbers: toll-free US numbers, valid for libphonenumber.
RECIPIENT = "+18005551234"
SENDER = "+18005559876"


@dataclass(frozen=True)
class CurlRequest:
    method: str
    path: str
    user: str
    password: str
    headers: dict[str, str]
    data: str

    def json(self) -> Any:
        return json.loads(self.data)


def parse_curl(command: str) -> CurlRequest:
    """The request a seed curl command makes (``-X``, URL, ``-u``, ``-H``, ``-d``), as a shell reads it."""
    words = shlex.split(command.replace("\\\n", " "))
    assert words[0] == "curl"
    method, url, user, headers, data = "GET", "", "", {}, ""
    it = iter(words[1:])
    for word in it:
        if word == "-X":
            method = next(it)
        elif word == "-u":
            user = next(it)
        elif word == "-H":
            name, _, value = next(it).partition(":")
            headers[name.strip()] = value.strip()
        elif word == "-d":
            data = next(it)
            method = method if method != "GET" else "POST"
        else:
            url = word
    assert url.startswith(SEED_HOST), url
    name, _, password = user.partition(":")
    return CurlRequest(method, url[len(SEED_HOST) :], name, password, headers, data)


def substituted(
    command: str, *, base_url: str, key_id: str, secret: str, media_url: str | None = None
) -> str:
    """The seed command with only the host, the credentials and (MMS) the media URL replaced."""
    assert SEED_HOST in command and SEED_CREDENTIALS in command
    out = command.replace(SEED_HOST, base_url).replace(SEED_CREDENTIALS, f"{key_id}:{secret}")
    if media_url is not None:
        assert SEED_MEDIA_URL in out
        out = out.replace(SEED_MEDIA_URL, media_url)
    return out
