"""The platform's native routes in one router: address book, lists, users and credits, reports, bulk
sends and the blocklist. The app includes this one router; each module keeps its own concern."""

from __future__ import annotations

from fastapi import APIRouter

from textgate.api import bulk, contacts, lists, reports, users

router = APIRouter()
for _module in (contacts, lists, users, reports, bulk):
    router.include_router(_module.router)
