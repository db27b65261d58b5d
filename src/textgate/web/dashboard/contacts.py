"""Contacts, groups and distribution lists, with CSV import."""

from __future__ import annotations
