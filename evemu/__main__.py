"""``python -m evemu``: run the server until Ctrl-C or SIGTERM.

    python -m evemu [--host 127.0.0.1] [--port 26000] [--db PATH] [--log-level INFO]
    python -m evemu import-data PATH-TO-evemu_Crucible [--db PATH]   (see evemu.db.importer)

The database (SQLite) is created on first start: ``--db``, else ``$EVEMU_DB``, else
``~/.local/share/evemu/evemu.sqlite3``.  Accounts are created on first login.
"""
import argparse
import logging
import signal
import sys

from evemu.config import Config
from evemu.machonet import constants as C


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="python -m evemu",
                                description="EVEmu: an EVE Online (Crucible 7.31, build "
                                            "360229) server emulator on stackless tasklets.",
                                epilog="python -m evemu import-data PATH [--db FILE] loads "
                                       "the static data of an evemu_Crucible checkout.")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default "
                   "127.0.0.1)")
    p.add_argument("--port", type=int, default=26000, help="TCP port (default 26000; 0 = any "
                   "free port)")
    p.add_argument("--db", dest="db_path", default=None, help="SQLite database file (default: "
                   "$EVEMU_DB or ~/.local/share/evemu/evemu.sqlite3)")
    p.add_argument("--node-id", type=int, default=C.DEFAULT_NODE_ID, help=argparse.SUPPRESS)
    p.add_argument("--image-server-url", default=None,
                   help="URL announced to clients for portraits (default "
                        "http://HOST:PORT+1/)")
    p.add_argument("--no-auto-account", dest="auto_account", action="store_false",
                   help="refuse logins of unknown accounts instead of creating them")
    p.add_argument("--log-level", default="INFO",
                   choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    p.add_argument("--create-account", metavar="NAME",
                   help="create account NAME in the database and exit (password from "
                        "$EVEMU_PASSWORD, else asked on the terminal)")
    p.add_argument("--debug-services", action="store_true",
                   help="register the debugSvc/debugBindable test services (never in "
                        "production)")
    return p.parse_args(argv)


def _install_signal_handlers(server, log):
    """SIGINT/SIGTERM stop the server cleanly.

    A Python signal handler runs between bytecodes, but while the main tasklet sleeps in
    epoll the interpreter retries the wait (PEP 475) and ``loop.stop()`` alone would not wake
    it.  So the C-level handler also writes to a wake-up socket (``signal.set_wakeup_fd``) that
    a small tasklet waits on; that tasklet calls ``server.stop()`` from inside the loop.
    """
    import socket

    import stackless
    from stackless import loop

    rsock, wsock = socket.socketpair()
    rsock.setblocking(False)
    wsock.setblocking(False)
    signal.set_wakeup_fd(wsock.fileno(), warn_on_full_buffer=False)
    received = []

    def on_signal(signum, frame):
        received.append(signum)

    def watcher():
        while True:
            loop.wait_readable(rsock)
            try:
                rsock.recv(512)
            except BlockingIOError:
                pass
            if received:
                log.info("%s received, stopping", signal.Signals(received[-1]).name)
                server.stop()
                return

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    server.signal_watcher = stackless.tasklet(watcher)()
    server.on_shutdown.append(lambda: (signal.set_wakeup_fd(-1), rsock.close(), wsock.close()))


def create_account(db_path, name, log):
    import getpass
    import os
    import sqlite3

    from evemu.db import AccountNameError, Database

    password = os.environ.get("EVEMU_PASSWORD")
    if password is None:
        password = getpass.getpass(f"password for {name}: ")
    if not password:
        log.error("an empty password is not allowed")
        return 1
    db = Database(db_path)
    try:
        acct = db.create_account(name, Config.auto_account_role, password=password)
    except AccountNameError as e:
        log.error("%s", e)
        return 1
    except sqlite3.IntegrityError:
        log.error("account %r already exists", name.strip().lower())
        return 1
    finally:
        db.close()
    log.info("created account %d (%s) in %s", acct.id, acct.name, db.path)
    return 0


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["import-data"]:
        from evemu.db.importer import main as import_main
        return import_main(argv[1:])
    args = parse_args(argv)
    logging.basicConfig(level=getattr(logging, args.log_level),
                        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
                        stream=sys.stderr)
    log = logging.getLogger("evemu")
    if args.create_account:
        return create_account(args.db_path, args.create_account, log)
    image_url = args.image_server_url or f"http://{args.host}:{(args.port or 26000) + 1}/"
    config = Config(host=args.host, port=args.port, db_path=args.db_path, node_id=args.node_id,
                    image_server_url=image_url, auto_account=args.auto_account,
                    debug_services=args.debug_services)

    from evemu.machonet.server import Server
    from evemu.services import build_services
    server = Server(build_services, config)
    try:
        server.start()
    except OSError as e:
        log.error("cannot listen on %s:%d: %s", args.host, args.port, e.strerror or e)
        return 2
    except Exception as e:                       # e.g. an unreadable database file
        log.error("cannot start: %s", e)
        return 2

    _install_signal_handlers(server, log)
    log.info("EVEmu ready for Crucible clients (macho %d, build %d); Ctrl-C stops",
             C.MACHO_VERSION, C.BUILD_VERSION)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
