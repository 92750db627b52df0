"""Server configuration: defaults, overridable by command-line options (``python -m evemu
--help``) and a few environment variables (``EVEMU_DB``)."""
import dataclasses

from evemu.machonet import constants as C


@dataclasses.dataclass
class Config:
    host: str = "127.0.0.1"
    port: int = 26000                  # EVEmu's default; 0 picks a free port (tests)
    db_path: str = None                # None: evemu.db.default_path()
    node_id: int = C.DEFAULT_NODE_ID
    image_server_url: str = "http://127.0.0.1:26001/"
    auto_account: bool = True          # create accounts on first login (EVEmu's AutoAccount)
    auto_account_role: int = C.ROLE_STD
    max_frame: int = 1 << 20           # inbound frame limit (EVEmu: 1 MiB)
    max_handshake_frame: int = 64 << 10  # before login: no client sends more than a few hundred
    max_inflated: int = 16 << 20       # a zlib frame may not inflate beyond this
    handshake_timeout: float = 60.0    # whole login handshake must finish within this
    idle_timeout: float = 600.0        # silent this long: PingReq; twice: dropped (EVEmu: 10 min)
    send_timeout: float = 60.0         # a peer that does not read for this long is dropped
    max_calls_per_connection: int = 64  # concurrent call tasklets per client
    max_connections: int = 4096
    debug_services: bool = False       # register the debug service (tests only)
