"""The Text-Connect document's own examples, copied verbatim (its curly quotes included), and the ones
its web page lost, restored.

The ImportContactsCSV example prints four input lines but five answer lines ("4 : No name"): the page
lost the fourth input line. ``IMPORT_CSV_RESTORED`` puts back a line with no name
(``,447777777774,,group2``) and must give exactly ``IMPORT_ANSWER``; the four lines as printed give
``IMPORT_ANSWER_AS_PRINTED``.
"""

from __future__ import annotations

from urllib.parse import quote

IMPORT_CSV = """Contact 1,447777777771,,group1
Contact 2,447777777772,
Contact 3,447777777773,,group1,group2,group3
Contact 5,mynumber,,group3"""

IMPORT_ANSWER = """1 : Success
2 : Success
3 : Success
4 : Failed
5 : Failed


4 : No name
5 : Invalid number (mynumber)"""

LOST_LINE = ",447777777774,,group2"
_PRINTED = IMPORT_CSV.splitlines()
IMPORT_CSV_RESTORED = "\n".join([*_PRINTED[:3], LOST_LINE, _PRINTED[3]])

IMPORT_ANSWER_AS_PRINTED = """1 : Success
2 : Success
3 : Success
4 : Failed


4 : Invalid number (mynumber)"""

#: GetBGSendMessages' two examples, as printed (with the page's typographic quotes).
BG_MESSAGES_EXAMPLE = (
    "[{\u201cMessageID\u201d:\u201d3509592\u2033,\u201dDestination\u201d:\u201d447777777777\u2033,"
    "\u201dStatus\u201d:\u201dSent\u201d},{\u201cMessageID\u201d:\u201d3509593\u2033,"
    "\u201dDestination\u201d:\u201d447777777778\u2033,\u201dStatus\u201d:\u201dSent\u201d}]"
)
BG_ERROR_EXAMPLE = (
    "{\u201cerror\u201d:\u201d-521\u2033,\u201dmessage\u201d:\u201dUnknown Background SendID\u201d}"
)


def straight_quotes(text: str) -> str:
    """The examples with the web page's typographic quotes made ASCII again, as a client receives JSON."""
    for curly in ("\u201c", "\u201d", "\u2033"):
        text = text.replace(curly, '"')
    return text


# The example URLs as the page prints them: it lost each URL's beginning (host, Token, Action and the first
# parameter's name), so :func:`example_query` puts that back and fills the placeholders.
SEND_URL = "[Your Number]&SourceAddress=API&Body=Hello%20World"
STATUS_URL = "[Your Message ID]"
CREATE_USER_URL = (
    "[Child Username]&ChildPassword=[Child Password]&AccessLevel=Normal&FirstName=[User\u2019s First Name]"
    "&LastName=[User\u2019s Last Name]&Email=[User\u2019s Email]&Credits=5"
)
UPDATE_CREDITS_URL = "[Child Username]&Quantity=5"
BG_URL = "[BGSendID]"

#: The lost beginning of each example URL: its action and the parameter the printed part starts with.
LOST_START = {
    SEND_URL: ("Send", "DestinationAddress"),
    STATUS_URL: ("CheckMessageStatus", "MessageID"),
    CREATE_USER_URL: ("CreateUser", "ChildUsername"),
    UPDATE_CREDITS_URL: ("UpdateCredits", "ChildUsername"),
    BG_URL: ("GetBGSendMessages", "BGSendID"),
}


def example_query(printed: str, token: str, **values: str) -> str:
    """The query string of an example URL: ``Token`` and ``Action`` restored, each ``[Placeholder]``
    replaced by ``values[placeholder]`` (URI-encoded, as the document requires)."""
    action, first = LOST_START[printed]
    query = f"Token={quote(token)}&Action={action}&{first}={printed}"
    for placeholder, value in values.items():
        query = query.replace(f"[{placeholder}]", quote(value))
    assert "[" not in query, query
    return query
