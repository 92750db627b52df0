"""Server settings: one table, four sources.

Each setting comes, in this order, from a command-line flag (``--max-connections 5000``), else
an environment variable (``EVEMU_MAX_CONNECTIONS=5000``), else the TOML file given by
``--config FILE`` / ``EVEMU_CONFIG`` (``max_connections = 5000``, top level or under
``[server]``), else the default below.  :func:`resolve` does that; ``python -m evemu --help``
lists every setting with its three names.  Code that builds a server itself (tests) just passes
keywords: ``Config(port=0, auto_account=True)``.
"""
import dataclasses
import ipaddress
import os

from evemu.machonet import constants as C

__all__ = ["Config", "SETTINGS", "ConfigError", "resolve", "flag_name", "env_name",
           "parse_value", "is_loopback"]


class ConfigError(ValueError):
    """A setting that cannot be used (bad value, unknown key, unreadable file)."""


def _s(default, help, cli=True, type_=None):
    return dataclasses.field(default=default, metadata={"help": help, "cli": cli,
                                                        "type": type_})


@dataclasses.dataclass
class Config:
    host: str = _s("127.0.0.1", "address to listen on")
    port: int = _s(26000, "TCP port (0 = any free port)")
    db_path: str = _s(None, "database file (default $XDG_DATA_HOME/evemu/evemu.sqlite3)")
    log_level: str = _s("INFO", "DEBUG, INFO, WARNING or ERROR")
    auto_account: bool = _s(None, "create accounts on first login (EVEmu's AutoAccount); "
                            "default: on only when listening on a loopback address",
                            type_=bool)
    auto_account_role: int = _s(C.ROLE_STD, "role of created accounts (the plain player "
                                "role)", cli=False)
    node_id: int = _s(C.DEFAULT_NODE_ID, "MachoNet node id", cli=False)
    image_server_url: str = _s(None, "URL announced to clients for portraits (default "
                               "http://HOST:PORT+1/)")
    debug_services: bool = _s(False, "register the debugSvc/debugBindable test services "
                              "(never in production)")
    # --- connections
    backlog: int = _s(1024, "listen backlog (pending TCP connects)")
    max_connections: int = _s(12000, "connections at once (logged in or not)")
    max_unauthenticated: int = _s(2048, "connections not logged in yet; beyond it the oldest "
                                  "one is closed")
    max_unauthenticated_per_address: int = _s(64, "connections not logged in yet from one "
                                              "address; beyond it new ones are refused")
    exempt_loopback: bool = _s(True, "loopback peers (local tools, a proxy on this host) are "
                               "not held to the per-address limit")
    handshake_timeout: float = _s(60.0, "seconds a client has to log in")
    frame_timeout: float = _s(30.0, "seconds a logged-in client has to finish a frame it "
                              "started")
    idle_timeout: float = _s(600.0, "silence before a PingReq; twice that: dropped")
    send_timeout: float = _s(60.0, "a peer that does not read for this long is dropped")
    max_calls_per_connection: int = _s(64, "concurrent calls per client")
    max_frame: int = _s(1 << 20, "largest inbound frame after login (bytes)", cli=False)
    max_handshake_frame: int = _s(64 << 10, "largest inbound frame before login", cli=False)
    max_inflated: int = _s(16 << 20, "a zlib frame may not inflate beyond this", cli=False)
    sqlite_sync: str = _s("full", "what a SQLite commit waits for: full (an fsync: an "
                          "acknowledged change survives a power cut) or normal (survives a "
                          "server crash, not a power cut; ~3x the write throughput)")
    # --- logins
    kdf: str = _s("scrypt:4096:8:1", "password KDF for new verifiers (scrypt:N:r:p)")
    login_free_failures: int = _s(5, "failed logins (per account, per address) before delays")
    login_base_delay: float = _s(0.5, "first delay after the free failures; doubles each time")
    login_max_delay: float = _s(30.0, "longest delay before a login is answered")
    login_failures_per_minute: int = _s(20, "failed logins per account or address per minute; "
                                        "beyond it logins are refused at once")
    # --- space
    npcs: int = _s(0, "NPC ships (each a tasklet) spawned across the starting systems")
    space_tick: float = _s(1.0, "seconds per destiny tick (1.0 as EVE; tests go faster)",
                           cli=False)
    # --- the rest
    shutdown_grace: float = _s(2.0, "seconds in-flight calls get at shutdown")
    warnings_per_minute: int = _s(10, "WARNING lines per client address per minute")

    def __post_init__(self):
        if self.image_server_url is None:
            self.image_server_url = f"http://{self.host}:{(self.port or 26000) + 1}/"

    @property
    def auto_account_enabled(self):
        """The effective auto-account state: the setting, or loopback-only when unset."""
        if self.auto_account is None:
            return is_loopback(self.host)
        return bool(self.auto_account)


SETTINGS = {f.name: f for f in dataclasses.fields(Config)}
_CLI_NAME = {"db_path": "db"}


def is_loopback(host):
    if host in ("localhost",):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def flag_name(name):
    return "--" + _CLI_NAME.get(name, name).replace("_", "-")


def env_name(name):
    return "EVEMU_" + _CLI_NAME.get(name, name).upper()


def toml_name(name):
    return _CLI_NAME.get(name, name)


def _type(f):
    t = f.metadata.get("type") or f.type
    return {"str": str, "int": int, "float": float, "bool": bool}.get(t, t)


def parse_value(name, value):
    """A setting's value from text (env var) or TOML; ConfigError if it does not fit."""
    f = SETTINGS[name]
    t = _type(f)
    if t is bool:
        if isinstance(value, bool):
            return value
        v = str(value).strip().lower()
        if v in ("1", "true", "yes", "on"):
            return True
        if v in ("0", "false", "no", "off"):
            return False
        if v == "auto" and f.default is None:
            return None
        raise ConfigError(f"{name}: expected true or false, not {value!r}")
    if isinstance(value, bool) and t is not bool:
        raise ConfigError(f"{name}: expected {t.__name__}, not {value!r}")
    try:
        out = t(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name}: expected {t.__name__}, not {value!r}") from None
    if t in (int, float) and out < 0:
        raise ConfigError(f"{name}: must not be negative ({value!r})")
    if name == "sqlite_sync":
        out = out.strip().lower()
        if out not in ("full", "normal"):
            raise ConfigError(f"sqlite_sync: expected full or normal, not {value!r}")
    if name == "log_level":
        out = out.upper()
        if out not in ("DEBUG", "INFO", "WARNING", "ERROR"):
            raise ConfigError(f"log_level: expected DEBUG, INFO, WARNING or ERROR, not "
                              f"{value!r}")
    return out


def load_toml(path):
    """The settings of a TOML file as {name: value}; ConfigError on anything unknown."""
    import tomllib
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except OSError as e:
        raise ConfigError(f"cannot read {path}: {e.strerror or e}") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: {e}") from None
    if isinstance(data.get("server"), dict):
        data = dict(data, **data.pop("server"))
    by_toml = {toml_name(n): n for n in SETTINGS}
    out = {}
    for key, value in data.items():
        if key not in by_toml:
            raise ConfigError(f"{path}: unknown setting {key!r}")
        out[by_toml[key]] = parse_value(by_toml[key], value)
    return out


def resolve(flags=None, env=None, config_file=None):
    """A Config from ``flags`` ({name: value} given on the command line), then ``env``
    (default os.environ), then the TOML ``config_file`` (default: $EVEMU_CONFIG), then the
    defaults.  Returns (config, sources) where sources[name] says where each value came from."""
    flags = dict(flags or {})
    env = os.environ if env is None else env
    config_file = config_file or env.get("EVEMU_CONFIG")
    from_file = load_toml(config_file) if config_file else {}
    values, sources = {}, {}
    for name in SETTINGS:
        if name in flags:
            values[name], sources[name] = flags[name], "flag"
        elif env_name(name) in env:
            values[name] = parse_value(name, env[env_name(name)])
            sources[name] = env_name(name)
        elif name in from_file:
            values[name], sources[name] = from_file[name], str(config_file)
        else:
            sources[name] = "default"
    return Config(**values), sources
