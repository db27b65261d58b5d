"""Reports: the five Text-Connect report types, downloadable as CSV."""

from __future__ import annotations
