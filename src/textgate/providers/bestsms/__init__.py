"""BestSMS: the "ultra simple" HTTP send (``/bestsms/send`` with Sender/Token), its polls, its delivery
and reply reports as webhooks (JSON or XML), and the v3.00 REST API the published ``bestsms`` Python
SDK calls, so both kinds of BestSMS client work against textgate by changing only their base URL."""
