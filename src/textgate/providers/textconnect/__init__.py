"""Text-Connect: its Token + Action HTTP API (``dialect``) and its inbound-forwarding format (``wire``)."""
