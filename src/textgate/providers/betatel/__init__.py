"""Betatel's Connect Hub SMS API (``POST /api/v1/connect-hub/sms``), served by textgate so that Betatel
clients — the doc's snippets and the ``betatelsdk`` package — work by changing only their base URL.
See ``docs/dialects/betatel.md``."""
