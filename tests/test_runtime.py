"""tune_gc: what serve and the webhook senders do to the garbage collector once set up."""

from __future__ import annotations

import gc

from textgate.runtime import GC_YOUNG_THRESHOLD, tune_gc


def test_tune_gc_freezes_what_lives_and_raises_the_thresholds() -> None:
    before = gc.get_threshold()
    kept = [object() for _ in range(10)]  # alive now: frozen, so no collection walks them again
    try:
        gc.unfreeze()
        tune_gc()
        assert gc.get_freeze_count() > len(kept)
        assert gc.get_threshold() == (GC_YOUNG_THRESHOLD, 20, 50)
        assert gc.get_count()[0] < GC_YOUNG_THRESHOLD  # (a collection ran first: nothing pending)
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
