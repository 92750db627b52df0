"""The skill training clock: one tasklet per server that completes every character's training
at its end time (:func:`evemu.db.skills.complete_due`) and tells the character's client.

It sleeps until the earliest end time in ``chrSkillQueue`` (at most ``max_sleep`` seconds, so a
clock change is noticed) and is woken early by :meth:`TrainingClock.changed` whenever a queue
changes.  At start-up its first round completes what ended while the server was down, so
training goes on across restarts.  ``skew`` (FILETIME ticks added to the wall clock) lets tests
move time forward.
"""
import logging

import stackless
from stackless import sync

from evemu.db import filetime_now
from evemu.db import skills

log = logging.getLogger("evemu.world.training")

__all__ = ["TrainingClock"]


class TrainingClock:
    def __init__(self, db, notify, max_sleep=60.0):
        """``notify(charID, events)`` sends a character's events (an OnMultiEvent) and
        answers how many connections got them: 0 (not online) keeps the trained skills for
        the character's next selection (:func:`evemu.db.skills.hold_trained`)."""
        self.db = db
        self.notify = notify
        self.max_sleep = max_sleep
        self.skew = 0
        self.rounds = 0                  # completed rounds (tests wait on it)
        self._wake = sync.Event()
        self._task = None
        self._stopped = False

    def now(self):
        return filetime_now() + self.skew

    def start(self):
        if self._task is None:
            self._task = stackless.tasklet(self._run)()
        return self

    def stop(self):
        self._stopped = True
        if self._task is not None and self._task.alive:
            self._task.kill()
        self._task = None

    def changed(self):
        """A queue changed (or time was moved): look again now."""
        self._wake.set()

    def run_once(self):
        """Complete what is due and send the events; returns the seconds until the next
        end time (None: nothing trains)."""
        now = self.now()
        done = self.db.run(skills.complete_due, now)
        for char_id, events in done.items():
            if events:
                try:
                    sent = self.notify(char_id, events)
                except Exception:
                    log.exception("skill events to %s", char_id)
                    sent = None
                trained = [e[1] for e in events if e[0] in ("OnSkillTrained",
                                                            "OnSkillSwitched")]
                if sent == 0 and trained:        # not online: told at its next selection
                    self.db.run(skills.hold_trained, char_id, trained, now)
        nxt = self.db.run(skills.next_due)
        self.rounds += 1
        return None if nxt is None else max(0.0, (nxt - self.now()) / 1e7)

    def _run(self):
        while not self._stopped:
            self._wake.clear()           # before the round: a change during it wakes again
            try:
                delay = self.run_once()
            except Exception as e:       # the database closing at shutdown, a bad row...
                if self._stopped:
                    return
                log.error("skill training clock: %r", e)
                delay = None
            self._wake.wait(self.max_sleep if delay is None else min(delay, self.max_sleep))
