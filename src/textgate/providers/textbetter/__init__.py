"""TextBetter's messaging APIs served by textgate, so a TextBetter client works by changing its base URL.

* ``dialect`` — the routes: v2 ``POST /api/SendOutgoingMessages`` (JSON) and v1 ``GET /SendTexts.aspx``
  (querystring, always HTTP 200);
* ``parsing`` — TextBetter's 11-digit numbers and base64 media read into textgate's terms;
* ``wire`` — TextBetter's answer bodies and its inbound formats ``textbetter_v2`` / ``textbetter_v1``.

See docs/dialects/textbetter.md.
"""
