"""Webhooks: endpoints, deliveries with their attempts and answers, replay."""

from __future__ import annotations
