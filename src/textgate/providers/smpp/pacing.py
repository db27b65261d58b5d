"""How fast one SMPP session submits: :class:`Pacer`, the per-bind rate controller.

An SMSC says "too fast" with ``ESME_RTHROTTLED`` (or ``ESME_RMSGQFUL``: its queue is full). A throttled
``submit_sm`` was not taken, so it is simply sent again; what must change is the rate. The pacer is
unlimited (only the window bounds the session) until the first throttle. From then on it paces submits at
the rate the SMSC has been *accepting*:

* time is cut into intervals of ``interval`` seconds; each counts the submits accepted and throttled;
* the estimate ``capacity`` is the best accepted rate of the last ``history`` intervals, each measured
  together with the one before it (an SMSC that counts per second may take a second's quota in half of
  it). A maximum, not an average: throttles that come at random, whatever the rate, lower what is
  accepted in one window but not the best one, so they do not drag the rate down step by step;
* some SMSCs throttle a share of submits whatever the rate; the lowest share of throttles among the
  recent windows (``baseline``) is taken to be that, and the pacer sends ``capacity / (1 - baseline)``
  so that what is *accepted* matches ``capacity``;
* the pacing rate is that times a gain that cycles through ``cycle`` intervals: two at
  ``probe_gain`` (1.25: a probe that finds out whether the SMSC now takes more), one at ``drain_gain``
  (0.85: lets what the probe queued at the SMSC drain), the rest at 1.0;
* with no throttle for ``recover`` seconds the pacer is unlimited again;
* it never goes below ``floor`` submits a second.

Against an SMSC that enforces a rate limit this settles at that limit within ``history`` intervals and
throttles a few per cent of submits (during the probes); against one that throttles a fixed share of
submits at any rate, it keeps the rate it had. Kannel's answer to a throttle is to stop submitting for
``throttling-sleep-time`` (1 s) and carry on at full speed, which under steady throttling gives a few
submits a second; Jasmin retries each throttled message after a fixed delay. Both keep sending into the
limit; the pacer stays under it.

Pure: no I/O, the clock is passed in, so the unit tests drive it with made-up times.
"""

from __future__ import annotations

import itertools
from collections import deque
from dataclasses import dataclass

#: Seconds of missed slots a late wake-up may make up.
SLACK = 0.02
#: Submits a window needs before its share of throttles says anything.
MIN_SAMPLES = 10
#: Intervals of a cycle that probe; steady intervals from SETTLED on are clear of the probe's after-effects.
PROBE_INTERVALS = 2
SETTLED = 4
#: The probe's gain while probes keep finding more (after the first throttle, and after a rise).
FAST_PROBE_GAIN = 2.0


@dataclass
class _Interval:
    start: float
    phase: int
    first: float  # when its first event came (sending may begin partway through an interval)
    accepted: int = 0
    throttled: int = 0


class Pacer:
    def __init__(
        self,
        *,
        interval: float = 0.5,
        history: int = 12,
        probe_gain: float = 1.25,
        steady_gain: float = 0.95,
        recover: float = 5.0,
        floor: float = 1.0,
        cycle: int = 10,
    ) -> None:
        if interval <= 0 or history < cycle or floor <= 0 or cycle < 6:
            raise ValueError("pacer: interval and floor must be positive, history >= cycle >= 6")
        self.interval = interval
        self.history = history
        self.probe_gain = probe_gain
        self.steady_gain = steady_gain
        self.recover = recover
        self.floor = floor
        self.cycle = cycle
        self._intervals: deque[_Interval] = deque(maxlen=history + 2)
        self._last_throttle: float | None = None
        self._next_send = 0.0
        self._cycle = -1
        self._cycle_capacity: float | None = None
        self._fast = True
        self.throttles = 0

    # -- what the session asks -------------------------------------------------------------------
    @property
    def paced(self) -> bool:
        return self._last_throttle is not None

    def rate(self, now: float) -> float | None:
        """Submits a second allowed now; None: no limit (only the window)."""
        if self._last_throttle is None:
            return None
        if now - self._last_throttle >= self.recover:
            self._last_throttle = None  # throttles stopped: back to full speed
            return None
        capacity = self.capacity(now)
        cycle = int(now / (self.interval * self.cycle))
        if cycle != self._cycle:
            # A new cycle: while the last probe raised what the SMSC accepts, the next one reaches further.
            self._fast = self._cycle_capacity is None or capacity >= 1.15 * self._cycle_capacity
            self._cycle, self._cycle_capacity = cycle, capacity
        if self._phase(now) < PROBE_INTERVALS:
            gain = FAST_PROBE_GAIN if self._fast else self.probe_gain
        else:
            gain = self.steady_gain
        return max(self.floor, capacity / (1.0 - self.baseline(now)) * gain)

    def delay(self, now: float) -> float:
        """Seconds to wait before the next submit may be written."""
        if self.rate(now) is None:
            return 0.0
        return max(0.0, self._next_send - now)

    def sent(self, now: float) -> None:
        """A submit was written now."""
        rate = self.rate(now)
        if rate is not None:
            # A slot missed by a late wake-up may be made up (up to SLACK), so the rate holds on average.
            self._next_send = max(self._next_send, now - SLACK) + 1.0 / rate

    # -- what the session learns -----------------------------------------------------------------
    def accepted(self, now: float) -> None:
        self._current(now).accepted += 1

    def throttled(self, now: float) -> None:
        self.throttles += 1
        self._current(now).throttled += 1
        if self._last_throttle is None:
            # The first throttle after a quiet spell: from now on paced, starting from what was just
            # accepted, and the next submit waits one slot.
            self._next_send = now + 1.0 / max(self.floor, self.capacity(now))
            self._cycle_capacity, self._fast = None, True
        self._last_throttle = now

    # -- the estimates ---------------------------------------------------------------------------
    def _done(self, now: float) -> list[_Interval]:
        current = self._current(now)
        return [i for i in self._intervals if i is not current][-self.history :]

    def capacity(self, now: float) -> float:
        """The best accepted rate of the recent intervals, each measured together with the one before it
        (an SMSC that counts per second may take a second's quota within half of it), the current one over
        the time it has run so far (at the first throttle it may be the only one)."""
        current = self._current(now)
        done = self._done(now)
        rates = [(a.accepted + b.accepted) / (2 * self.interval) for a, b in itertools.pairwise(done)]
        elapsed = now - current.start
        if not rates or elapsed >= self.interval / 10:
            before = done[-1:] if done and done[-1].start + 2 * self.interval > now else []
            counted = current.accepted + sum(i.accepted for i in before)
            began = before[0].first if before else current.first
            span = now - max(began, now - 2 * self.interval)
            rates.append(counted / max(span, self.interval / 50))
        return max(self.floor, max(rates))

    def baseline(self, now: float) -> float:
        """The share of submits the SMSC throttles whatever the rate: the lowest share among the recent
        steady windows clear of a probe (they run a little under the limit), at most one half."""
        shares = [
            (a.throttled + b.throttled) / total
            for a, b in itertools.pairwise(self._done(now))
            if a.phase >= SETTLED
            and b.phase >= SETTLED
            and (total := a.accepted + a.throttled + b.accepted + b.throttled) >= MIN_SAMPLES
        ]
        return min(0.5, min(shares)) if shares else 0.0

    def _phase(self, now: float) -> int:
        return int(now / self.interval) % self.cycle

    def _current(self, now: float) -> _Interval:
        start = now - (now % self.interval)
        if not self._intervals or self._intervals[-1].start < start:
            self._intervals.append(_Interval(start, self._phase(now), now))
        return self._intervals[-1]
