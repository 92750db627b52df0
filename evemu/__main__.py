"""``python -m evemu``: the server and its administration commands.

    python -m evemu [serve] [--host H] [--port P] [--db PATH] [--config FILE.toml] ...
    python -m evemu account create|passwd|ban|unban|delete NAME [--db PATH]
    python -m evemu account list [--db PATH]
    python -m evemu db info|upgrade [--db PATH]
    python -m evemu import-data PATH-TO-evemu_Crucible [--db PATH]   (see evemu.db.importer)

Settings come from flags, then ``EVEMU_*`` environment variables, then the TOML file of
``--config`` (or ``EVEMU_CONFIG``), then the defaults (:mod:`evemu.config`).  Passwords are read
from the terminal without echo (asked twice), or as one line from standard input when it is not
a terminal (``EVEMU_PASSWORD`` is also honoured, for scripts).  Exit status: 0 done, 1 refused
(the account exists, does not exist...), 2 bad usage or input (bad setting, no password, port in
use, unreadable database).
"""
import argparse
import gc
import logging
import os
import signal
import sys

from evemu import config as cfg

GC_THRESHOLD = 20_000    # young-generation collection threshold while serving (default 700)

EPILOG = """\
Every setting can be given three ways besides its default, and the first one found wins:
  1. a command-line flag            --max-connections 5000
  2. an environment variable        EVEMU_MAX_CONNECTIONS=5000
  3. the TOML file of --config      max_connections = 5000   (top level or under [server];
                                    the file can also be named by EVEMU_CONFIG)
Commands: serve (the default), account create|list|passwd|ban|unban|delete NAME, db info|upgrade,
import-data PATH (the static data of an evemu_Crucible checkout).
"""

COMMON = ("db_path", "log_level")


class CliError(Exception):
    def __init__(self, message, status=2):
        super().__init__(message)
        self.status = status


def _default_text(name):
    f = cfg.SETTINGS[name]
    if name == "db_path":
        return "$XDG_DATA_HOME/evemu/evemu.sqlite3"
    if f.default is None:
        return "see above" if name != "image_server_url" else "http://HOST:PORT+1/"
    return str(f.default)


def _add_settings(p, names):
    for name in names:
        f = cfg.SETTINGS[name]
        if not f.metadata.get("cli", True):
            continue
        t = f.metadata.get("type") or f.type
        help_ = (f"{f.metadata['help']} [env {cfg.env_name(name)}, TOML {cfg.toml_name(name)}; "
                 f"default {_default_text(name)}]").replace("%", "%%")
        if t in (bool, "bool"):
            p.add_argument(cfg.flag_name(name), dest=name, action=argparse.BooleanOptionalAction,
                           default=argparse.SUPPRESS, help=help_)
        else:
            p.add_argument(cfg.flag_name(name), dest=name, default=argparse.SUPPRESS,
                           metavar=name.upper() if name != "db_path" else "PATH", help=help_)


def _add_config(p):
    p.add_argument("--config", metavar="FILE.toml", default=argparse.SUPPRESS,
                   help="read settings from this TOML file [env EVEMU_CONFIG]")


def build_parser():
    server_names = [n for n in cfg.SETTINGS]
    top = argparse.ArgumentParser(
        prog="python -m evemu", epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
        description="EVEmu: an EVE Online (Crucible 7.31, build 360229) server emulator on "
                    "stackless tasklets.  Without a command: serve.")
    _add_config(top)
    _add_settings(top, server_names)
    top.add_argument("--create-account", metavar="NAME", default=argparse.SUPPRESS,
                     help="same as: account create NAME")
    sub = top.add_subparsers(dest="command", metavar="COMMAND")

    serve = sub.add_parser("serve", help="run the server (the default)", epilog=EPILOG,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    _add_config(serve)
    _add_settings(serve, server_names)

    acct = sub.add_parser("account", help="create, list, change, ban, unban or delete accounts",
                          epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    acct.add_argument("action", choices=["create", "list", "passwd", "ban", "unban", "delete"])
    acct.add_argument("name", nargs="?", help="the account name (all but list)")
    _add_config(acct)
    _add_settings(acct, COMMON + ("kdf",))

    db = sub.add_parser("db", help="show the database's schema version, or apply migrations",
                        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    db.add_argument("action", choices=["info", "upgrade", "copy"])
    db.add_argument("--from", dest="copy_from", metavar="URL",
                    help="copy: the source database (a SQLite path or a postgresql:// URL)")
    db.add_argument("--to", dest="copy_to", metavar="URL", help="copy: the destination")
    db.add_argument("--force", action="store_true",
                    help="copy: replace the destination's accounts and characters")
    _add_config(db)
    _add_settings(db, COMMON)

    imp = sub.add_parser("import-data", help="load the static data of an evemu_Crucible "
                         "checkout (its sql/base dumps)", epilog=EPILOG,
                         formatter_class=argparse.RawDescriptionHelpFormatter)
    imp.add_argument("path", help="an evemu_Crucible checkout or its sql/base folder")
    _add_config(imp)
    _add_settings(imp, COMMON)
    return top


def parse(argv=None):
    """(namespace, Config) for ``argv``; CliError on a bad setting."""
    ns = build_parser().parse_args(argv)
    flags = {}
    for name in cfg.SETTINGS:
        if hasattr(ns, name):
            value = getattr(ns, name)
            flags[name] = value if isinstance(value, bool) else cfg.parse_value(name, value)
    try:
        config, sources = cfg.resolve(flags, config_file=getattr(ns, "config", None))
    except cfg.ConfigError as e:
        raise CliError(str(e)) from None
    if getattr(ns, "create_account", None):
        ns.command, ns.action, ns.name = "account", "create", ns.create_account
    if ns.command is None:
        ns.command = "serve"
    return ns, config


# ---------------------------------------------------------------------- passwords
def read_password(name, confirm=True, stdin=None):
    """The password for ``name``: $EVEMU_PASSWORD, else the terminal (no echo, asked twice),
    else one line of standard input.  CliError (status 2) on EOF or an empty password."""
    import getpass
    stdin = sys.stdin if stdin is None else stdin
    pw = os.environ.get("EVEMU_PASSWORD")
    if pw is None:
        if stdin is not None and stdin.isatty():
            try:
                pw = getpass.getpass(f"password for {name}: ")
                if confirm and getpass.getpass("again: ") != pw:
                    raise CliError("the two passwords differ")
            except EOFError:
                raise CliError("no password given (end of input)") from None
        else:
            line = stdin.readline() if stdin is not None else ""
            if not line:
                raise CliError("no password: standard input is at end of file (pipe one line, "
                               "or run on a terminal)")
            pw = line.rstrip("\r\n")
    if not pw:
        raise CliError("an empty password is not allowed")
    return pw


# ---------------------------------------------------------------------- commands
def cmd_account(ns, config, log):
    from evemu.db import AccountExists, AccountNameError, Database
    if ns.action != "list" and not ns.name:
        raise CliError(f"account {ns.action} needs an account NAME")
    password = None
    if ns.action in ("create", "passwd"):
        password = read_password(ns.name.strip().lower())
    try:
        db = Database(config.db_path, kdf=config.kdf, sqlite_sync=config.sqlite_sync)
    except Exception as e:
        raise CliError(f"cannot open the database: {e}") from None
    try:
        if ns.action == "create":
            try:
                acct = db.create_account(ns.name, config.auto_account_role, password=password)
            except AccountNameError as e:
                raise CliError(str(e), 1) from None
            except AccountExists:
                raise CliError(f"account {ns.name.strip().lower()!r} already exists", 1) from None
            log.info("created account %d (%s) in %s", acct.id, acct.name, db.path)
        elif ns.action == "list":
            rows = db.list_accounts()
            print(f"{'id':>6}  {'name':<20} {'role':>20} {'banned':<6} {'logins':>6}  kdf")
            for a in rows:
                print(f"{a.id:>6}  {a.name:<20} {a.role:>20} {'yes' if a.banned else 'no':<6} "
                      f"{a.logon_count:>6}  {a.kdf}")
            print(f"{len(rows)} account(s) in {db.path}")
        elif ns.action == "passwd":
            if not db.set_password(ns.name, password):
                raise CliError(f"no account {ns.name.strip().lower()!r}", 1)
            log.info("password of %s changed", ns.name.strip().lower())
        elif ns.action in ("ban", "unban"):
            if not db.set_banned(ns.name, ns.action == "ban"):
                raise CliError(f"no account {ns.name.strip().lower()!r}", 1)
            log.info("account %s %sned", ns.name.strip().lower(), ns.action)
        elif ns.action == "delete":
            if not db.delete_account(ns.name):
                raise CliError(f"no account {ns.name.strip().lower()!r}", 1)
            log.info("account %s deleted (with its characters)", ns.name.strip().lower())
    finally:
        db.close()
    return 0


def cmd_db_copy(ns):
    """``db copy --from URL --to URL``: exit 0 when copied and verified (evemu/db/copy.py)."""
    from evemu.db import display_name, open_backend
    from evemu.db.copy import CopyError, copy_database
    if not ns.copy_from or not ns.copy_to:
        raise CliError("db copy needs --from URL and --to URL")
    if ns.copy_from == ns.copy_to:
        raise CliError("db copy: --from and --to are the same database")
    src_path = ns.copy_from
    if "://" not in src_path and src_path != ":memory:" and not os.path.exists(src_path):
        raise CliError(f"db copy: no database at {src_path}", 1)
    backends = []
    try:
        try:
            backends.append(open_backend(src_path))
            backends.append(open_backend(ns.copy_to))
        except Exception as e:
            raise CliError(f"cannot open the database: {e}", 1) from None
        src, dst = backends
        print(f"copying {display_name(src_path)} -> {display_name(ns.copy_to)}")
        try:
            done = copy_database(src, dst, progress=sys.stderr, force=ns.force)
        except CopyError as e:
            raise CliError(f"db copy: {e}", 1) from None
    finally:
        for b in backends:
            b.close()
    for table, (rows, digest) in sorted(done.items()):
        print(f"  {table:<32} {rows:>9} rows  sha256-sum {digest[:16]}  verified")
    print(f"copied {len(done)} tables, {sum(r for r, _ in done.values())} rows; row counts "
          "and checksums match")
    return 0


def cmd_db(ns, config, log):
    from evemu.db import Database, default_path
    if ns.action == "copy":
        return cmd_db_copy(ns)
    path = config.db_path or default_path()
    if ns.action == "info" and path != ":memory:" and "://" not in path \
            and not os.path.exists(path):
        raise CliError(f"no database at {path} (the server creates it on first start)", 1)
    try:
        db = Database(path, migrate=False)
    except Exception as e:
        raise CliError(f"cannot open the database: {e}") from None
    try:
        if ns.action == "upgrade":
            applied = db.migrate()
            for m in applied:
                print(f"applied migration {m.version}: {m.name}")
            if not applied:
                print("nothing to do")
        info = db.schema_info()
    except Exception as e:
        raise CliError(str(e), 1) from None
    finally:
        db.close()
    print(f"database:       {info['path']}")
    print(f"backend:        {info['backend']}")
    print(f"schema version: {info['version']} (this server knows up to {info['latest']})")
    print(f"accounts:       {info['accounts']}")
    for v, name, _ in info["applied"]:
        print(f"  applied  {v:>4}  {name}")
    for v, name in info["pending"]:
        print(f"  pending  {v:>4}  {name}   (python -m evemu db upgrade, or start the server)")
    for v in info["unknown"]:
        print(f"  unknown  {v:>4}  (written by a newer server)")
    return 0


def cmd_import_data(ns, config, log):
    """Exit status 0, 3 if some files were refused (the others are imported), 2 if PATH holds
    no dumps or the database cannot be opened."""
    from evemu.db import Database, importer
    try:
        importer.dump_files(ns.path)             # PATH must hold dumps: before opening the db
    except FileNotFoundError as e:
        raise CliError(f"import-data: {e}") from None
    try:
        db = Database(config.db_path)
    except Exception as e:
        raise CliError(f"cannot open the database: {e}") from None
    try:
        result = importer.run(db, ns.path, sys.stderr)
    finally:
        db.close()
    for line in importer.summary(result):
        print(line)
    return 3 if result.refused else 0


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


def _tune_gc():
    """After start-up: what is loaded now (modules, static data, services) lives as long as
    the process, so take it out of the collector's sight (``gc.freeze``), and collect the
    young generation less often.  A call allocates and frees its objects without cycles, so
    the default threshold (700) only makes the collector walk the survivors (connections,
    sessions) over and over: at 1,000 clients it took ~5-8% of the server's CPU."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_THRESHOLD, 20, 20)


def cmd_serve(ns, config, log):
    from evemu.machonet.server import Server
    from evemu.services import build_services
    server = Server(build_services, config)
    _install_signal_handlers(server, log)        # before the start-up line: a SIGTERM right
    try:                                         # after it must already stop cleanly
        server.start()
    except OSError as e:
        server.shutdown()
        log.error("cannot listen on %s:%d: %s", config.host, config.port, e.strerror or e)
        return 2
    except Exception as e:                       # e.g. an unreadable database file
        server.shutdown()
        log.error("cannot start: %s", e)
        return 2
    _tune_gc()
    server.serve_forever()
    return 0


def main(argv=None):
    log = logging.getLogger("evemu")
    try:
        ns, config = parse(argv)
    except (CliError, cfg.ConfigError) as e:
        print(f"python -m evemu: error: {e}", file=sys.stderr)
        return 2
    logging.basicConfig(level=getattr(logging, config.log_level),
                        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
                        stream=sys.stderr)
    command = {"serve": cmd_serve, "account": cmd_account, "db": cmd_db,
               "import-data": cmd_import_data}[ns.command]
    try:
        return command(ns, config, log)
    except CliError as e:
        log.error("%s", e)
        return e.status
    except KeyboardInterrupt:
        log.error("interrupted")
        return 2


if __name__ == "__main__":
    sys.exit(main())
