"""Protocol constants of the Crucible client (protocol notes sections 3.1 - 3.4)."""

# Version exchange (section 3.1, step 1)
BIRTHDAY = 170472
MACHO_VERSION = 320
VERSION_NUMBER = 7.31
BUILD_VERSION = 360229
PROJECT_CODENAME = "EVE-EVE-TRANQUILITY"
PROJECT_REGION = "ccp"
PROJECT_VERSION = PROJECT_CODENAME + "@" + PROJECT_REGION

#: The CRC the client computes over its (placebo) challenge response: crc_hqx of
#: marshal(('\0' * 64,)).  Recomputed and checked in the tests.
CHALLENGE_RESPONSE_HASH = "55087"
#: A Python-2-marshalled ``None`` (code the client would run; EVEmu sends this with
#: verification False).
MARSHALED_NONE = b"t\x04\x00\x00\x00None"
#: Password version the server asks for: 2 = hashed.
PASSWORD_VERSION_HASHED = 2

# Node ids.  EVEmu: node 888444, proxy node 0xFFAA, "cache owner" node 333444.
DEFAULT_NODE_ID = 888444
PROXY_NODE_ID = 0xFFAA
CACHE_NODE_ID = 333444

# Account types (userType) and roles (EVE_Roles.h facts).
USER_TYPE_MAMMON = 30          # the default player account type
ROLE_IGB = 2147483648
ROLE_NEWBIE = 576460752303423488
ROLE_PLAYER = 2305843009213693952
ROLE_LOGIN = 4611686018427387904
ROLE_STD = ROLE_LOGIN | ROLE_PLAYER | ROLE_IGB
#: The role EVEmu reports in the handshake ack ("live returns these").
ROLE_HANDSHAKE = ROLE_PLAYER | ROLE_NEWBIE | ROLE_LOGIN

# MachoNet packet types (section 3.2)
AUTHENTICATION_REQ = 0
AUTHENTICATION_RSP = 1
IDENTIFICATION_REQ = 2
IDENTIFICATION_RSP = 3
CALL_REQ = 6
CALL_RSP = 7
TRANSPORT_CLOSED = 8
RESOLVE_REQ = 10
RESOLVE_RSP = 11
NOTIFICATION = 12
ERROR_RESPONSE = 15
SESSION_CHANGE_NOTIFICATION = 16
SESSION_INITIAL_STATE_NOTIFICATION = 18
PING_REQ = 20
PING_RSP = 21
MOVEMENT_NOTIFICATION = 100

PACKET_TYPE_NAMES = {
    AUTHENTICATION_REQ: "macho.AuthenticationReq",
    AUTHENTICATION_RSP: "macho.AuthenticationRsp",
    IDENTIFICATION_REQ: "macho.IdentificationReq",
    IDENTIFICATION_RSP: "macho.IdentificationRsp",
    CALL_REQ: "macho.CallReq",
    CALL_RSP: "macho.CallRsp",
    TRANSPORT_CLOSED: "macho.TransportClosed",
    RESOLVE_REQ: "macho.ResolveReq",
    RESOLVE_RSP: "macho.ResolveRsp",
    NOTIFICATION: "macho.Notification",
    ERROR_RESPONSE: "macho.ErrorResponse",
    SESSION_CHANGE_NOTIFICATION: "macho.SessionChangeNotification",
    SESSION_INITIAL_STATE_NOTIFICATION: "macho.SessionInitialStateNotification",
    PING_REQ: "macho.PingReq",
    PING_RSP: "macho.PingRsp",
    MOVEMENT_NOTIFICATION: "macho.MovementNotification",
}
PACKET_TYPES_BY_NAME = {v: k for k, v in PACKET_TYPE_NAMES.items()}

# MachoAddress kinds
ADDRESS_NODE = 1
ADDRESS_CLIENT = 2
ADDRESS_BROADCAST = 4
ADDRESS_ANY = 8

# ErrorResponse codes
UNMACHODESTINATION = 0
UNMACHOCHANNEL = 1
WRAPPEDEXCEPTION = 2

# Session type in SessionInitialStateNotification
SESSION_TYPE_USER = 5

#: Seconds between 1601-01-01 (FILETIME epoch) and 1970-01-01.
FILETIME_EPOCH_OFFSET = 11644473600
