"""The timer queue of stackless.loop: millisecond buckets under a heap of ticks.

A plain heap of (when, seq, ...) entries costs ~20 rich comparisons of whole
entries per pop (measured: a quarter of the loop's time with 100,000 sleeping
tasklets).  Here an entry goes into the bucket of its millisecond,
``int(when * 1000)`` (a dict of lists, appended in arrival order), and only the
distinct ticks are kept in a heap of ints.  A bucket is sorted by ``when`` (a
stable sort, so equal deadlines keep arrival = seq order) only when it comes
due, and Timsort on a bucket that is already mostly sorted is linear.

Invariants
  * every tick in ``_ticks`` has a non-empty bucket in ``_buckets`` and vice versa;
  * entries are ``[when, seq, fn, args]`` lists; ``fn is None`` marks an entry
    that was cancelled (it stays until its bucket comes due or a compaction) or
    has fired; ``seq == -1`` marks one that ``pop_due`` handed out;
  * ``pop_due(now)`` returns exactly the live and cancelled entries with
    ``when <= now``, in (when, seq) order; nothing is ever returned early.
"""
import heapq
from operator import itemgetter

_when = itemgetter(0)
_heappush = heapq.heappush
_heappop = heapq.heappop


class TimerQueue:
    __slots__ = ("_buckets", "_ticks", "_sorted_tick", "live", "cancelled")

    def __init__(self):
        self._buckets = {}
        self._ticks = []
        self._sorted_tick = None   # the one bucket known to be sorted (the top one)
        self.live = 0              # entries pushed and neither fired nor cancelled
        self.cancelled = 0         # cancelled entries still stored

    def __len__(self):
        return self.live + self.cancelled

    def push(self, entry):
        when = entry[0]
        # (a far deadline, inf included, shares one last bucket: it is sorted by when)
        tick = int(when * 1000.0) if when < 1e15 else 10 ** 18
        b = self._buckets.get(tick)
        if b is None:
            self._buckets[tick] = [entry]
            _heappush(self._ticks, tick)
        else:
            b.append(entry)
            if tick == self._sorted_tick:
                self._sorted_tick = None
        self.live += 1

    def note_cancelled(self):
        """An entry's fn was set to None; compacts when most entries are dead."""
        self.live -= 1
        self.cancelled += 1
        if self.cancelled > 256 and self.cancelled > self.live:
            self._compact()

    def _compact(self):
        buckets = {}
        for tick, b in self._buckets.items():
            keep = [e for e in b if e[2] is not None]
            if keep:
                buckets[tick] = keep
        self._buckets = buckets
        self._ticks = list(buckets)
        heapq.heapify(self._ticks)
        self._sorted_tick = None
        self.cancelled = 0

    def next_when(self):
        """The earliest deadline stored (possibly of a cancelled entry), or None."""
        ticks = self._ticks
        if not ticks:
            return None
        tick = ticks[0]
        b = self._buckets[tick]
        if tick != self._sorted_tick:
            b.sort(key=_when)
            self._sorted_tick = tick
        return b[0][0]

    def pop_due(self, now):
        """Remove and return the entries with when <= now, in (when, seq) order
        (cancelled ones included: the caller skips fn None and counts them)."""
        limit = int(now * 1000.0)
        ticks = self._ticks
        buckets = self._buckets
        out = []
        while ticks and ticks[0] <= limit:
            tick = ticks[0]
            b = buckets[tick]
            if tick != self._sorted_tick:
                b.sort(key=_when)
                self._sorted_tick = tick
            if b[-1][0] <= now:
                due = b
                _heappop(ticks)
                del buckets[tick]
                self._sorted_tick = None
            else:
                i = 0
                n = len(b)
                while i < n and b[i][0] <= now:
                    i += 1
                if i == 0:
                    break
                due = b[:i]
                del b[:i]
            out += due
            if due is not b:
                break      # this bucket still holds entries after now: nothing later is due
        for e in out:
            e[1] = -1          # popped: a later cancel must not count it as stored
            if e[2] is None:
                self.cancelled -= 1
            else:
                self.live -= 1
        return out

    def cancel(self, entry):
        """Cancel ``entry`` (idempotent; a no-op once it fired)."""
        if entry[2] is None:
            return
        entry[2] = entry[3] = None
        if entry[1] >= 0:
            self.note_cancelled()

    def entries(self):
        for b in self._buckets.values():
            yield from b
