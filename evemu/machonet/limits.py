"""Limits that keep one peer from hurting the others: the login throttle and rate-limited
warnings.  Pure bookkeeping (no I/O, no tasklets): the server asks, then sleeps or refuses.

Login throttle, per account name *and* per client address (each key counted on its own; the
stricter answer wins):

- the first ``free`` consecutive failures cost nothing;
- after that each attempt waits ``base * 2**(failures - free)`` seconds (at most ``max_delay``)
  before it is answered -- in the connecting tasklet only, the loop serves everyone else;
- more than ``per_minute`` failures within the last 60 s: refused at once, without checking the
  password, until the window has room again (so a guessing rate is capped however many
  connections are used);
- a successful login clears its account and its address.

Memory is bounded: at most ``max_keys`` keys are tracked (the stalest are forgotten first), and
a key whose last failure is older than a minute and whose delay has lapsed is dropped.
"""
import collections
import time

__all__ = ["LoginThrottle", "Throttled", "WarningLimiter"]


class Throttled(Exception):
    """Too many failed logins: refused without checking (``retry_after`` seconds)."""

    def __init__(self, retry_after):
        super().__init__(f"Too many failed logins; try again in {int(retry_after) + 1} s.")
        self.retry_after = retry_after


class _Record:
    __slots__ = ("failures", "times")

    def __init__(self):
        self.failures = 0                    # consecutive, since the last success
        self.times = collections.deque()     # failure times within the last minute


class LoginThrottle:
    WINDOW = 60.0

    def __init__(self, free=5, base_delay=0.5, max_delay=30.0, per_minute=20, max_keys=100000,
                 clock=time.monotonic):
        self.free = free
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.per_minute = per_minute
        self.max_keys = max_keys
        self.clock = clock
        self._records = collections.OrderedDict()

    def _get(self, key, now):
        rec = self._records.get(key)
        if rec is not None:
            while rec.times and rec.times[0] <= now - self.WINDOW:
                rec.times.popleft()
        return rec

    def _delay(self, rec):
        if rec is None or rec.failures < self.free:
            return 0.0
        return min(self.max_delay, self.base_delay * 2 ** min(rec.failures - self.free, 30))

    def check(self, *keys):
        """Seconds to wait before this attempt is checked; raises Throttled when the per-minute
        cap of any key is reached."""
        now = self.clock()
        delay = 0.0
        for key in keys:
            rec = self._get(key, now)
            if rec is None:
                continue
            if self.per_minute and len(rec.times) >= self.per_minute:
                raise Throttled(rec.times[0] + self.WINDOW - now)
            delay = max(delay, self._delay(rec))
        return delay

    def failure(self, *keys):
        now = self.clock()
        for key in keys:
            rec = self._get(key, now)
            if rec is None:
                rec = self._records[key] = _Record()
                if len(self._records) > self.max_keys:
                    self._prune(now)
            else:
                self._records.move_to_end(key)
            rec.failures += 1
            rec.times.append(now)

    def success(self, *keys):
        for key in keys:
            self._records.pop(key, None)

    def _prune(self, now):
        for key in list(self._records):
            rec = self._get(key, now)
            if not rec.times and rec.failures <= self.free:
                del self._records[key]
        while len(self._records) > self.max_keys:
            self._records.popitem(last=False)

    def __len__(self):
        return len(self._records)


class WarningLimiter:
    """At most ``per_minute`` warnings per key (a client address) per minute; the count of the
    suppressed ones is reported with the next one let through."""

    def __init__(self, per_minute=10, max_keys=10000, clock=time.monotonic):
        self.per_minute = per_minute
        self.max_keys = max_keys
        self.clock = clock
        self._keys = collections.OrderedDict()     # key -> [window start, count, suppressed]

    def allow(self, key):
        """(allowed, suppressed_before): log only when allowed."""
        now = self.clock()
        st = self._keys.get(key)
        if st is None or now - st[0] >= 60.0:
            suppressed = st[2] if st else 0
            self._keys[key] = [now, 1, 0]
            self._keys.move_to_end(key)
            if len(self._keys) > self.max_keys:
                self._keys.popitem(last=False)
            return True, suppressed
        if st[1] < self.per_minute:
            st[1] += 1
            suppressed, st[2] = st[2], 0
            return True, suppressed
        st[2] += 1
        return False, 0

    def warn(self, logger, key, msg, *args):
        ok, suppressed = self.allow(key)
        if ok:
            if suppressed:
                msg += f" ({suppressed} similar warnings for {key} suppressed)"
            logger.warning(msg, *args)
