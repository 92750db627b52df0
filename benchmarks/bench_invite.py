"""How long an inviter's ``LSC.Invite`` takes when the invitee's client never answers.

    python benchmarks/bench_invite.py [--invites 200]

Server and clients in this one process (tasklets; standard services with the debug ones,
SQLite in memory).  alice and bob log in and become characters with ``debugSvc.SetSession``;
bob's client then reads nothing.  alice opens a private conversation and invites bob into it,
``--invites`` times (a new conversation each time: one invitation per channel and invitee is
allowed), timing each call.  Before the change Invite waited for the invitee's answer, here
the whole ``invite_timeout`` (120 s); EVEmu answers at once, and so do we now.
"""
import argparse
import statistics
import time

from stackless import loop

from evemu.client import Client
from evemu.config import Config
from evemu.db import Database
from evemu.machonet.server import Server
from evemu.services import build_services

SYSTEM, CORP = 30002187, 1000044


def pilot(port, name, charid):
    c = Client.connect(("127.0.0.1", port))
    c.login(name, "pw")
    for key, value in ((b"charid", charid), (b"corpid", CORP), (b"solarsystemid2", SYSTEM),
                       (b"solarsystemid", SYSTEM)):
        c.call("debugSvc", "SetSession", key, value)
    c.call("LSC", "GetChannels")                       # in chat (reachable)
    return c


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--invites", type=int, default=200)
    args = ap.parse_args()
    srv = Server(lambda s: build_services(s, ()), Config(port=0, debug_services=True),
                 db=Database(":memory:"))
    _host, port = srv.start()
    try:
        lsc = srv.services.lookup("LSC")
        lsc.max_pending_invites = args.invites + 1      # all of them stay unanswered
        alice, bob = pilot(port, "benchalice", 90000001), pilot(port, "benchbob", 90000002)
        times = []
        for _ in range(args.invites):
            info, _acl, _members = alice.call("LSC", "CreateChannel", "Private Chat",
                                              temporary=True)
            channel_id = info.state[b"line"][0]           # util.Row: channelID first
            t0 = time.perf_counter()
            assert alice.call("LSC", "Invite", 90000002, channel_id, "Private Chat",
                              False) == 1
            times.append((time.perf_counter() - t0) * 1000)
        times.sort()
        print(f"{args.invites} invitations, invitee never answering "
              f"(invite_timeout {lsc.invite_timeout:.0f} s): Invite answered in "
              f"p50 {statistics.median(times):.2f} ms, "
              f"p99 {times[int(len(times) * 0.99) - 1]:.2f} ms, max {times[-1]:.2f} ms; "
              f"{len(lsc._invites)} invitations waiting")
        alice.close()
        bob.close()
    finally:
        srv.shutdown()
        srv.db.close()
        loop.sleep(0)


if __name__ == "__main__":
    main()
