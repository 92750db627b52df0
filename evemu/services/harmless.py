"""Everything else the client calls on its way into the station (protocol notes 4.1, step 5):
tutorials, notifications, mail, calendar, certificates, fittings, standings, ...

Each service answers EVEmu's harmless value: the empty form of what its handler returns
(an empty rowset where EVEmu runs a query, ``0`` for the tutorial state, an empty tuple for
unprocessed notifications...), and None for any other method, as EVEmu does.  Each
``service.method`` is logged once (INFO), so the log shows what the client wanted without
repeating itself.

Services registered elsewhere (chat's ``LSC``, the world's own) are left alone:
:func:`register_missing` only adds names the manager does not have yet.
"""
import logging

from evemu.wire.marshal import DBTYPE_I4, DBTYPE_I8, DBTYPE_WSTR, DBTYPE_UI4

from . import Service
from .rowsets import crowset, keyval, rowset

log = logging.getLogger("evemu.services.harmless")


def _empty_rowset(*names):
    return lambda: rowset(names, [])


def _empty_crowset(*cols):
    return lambda: crowset(cols, [])


#: service -> {method: factory of the answer}; methods not listed answer None.
ANSWERS = {
    "tutorialSvc": {
        # TutorialService.cpp / TutorialDB.cpp
        "GetCharacterTutorialState": lambda: 0,
        "GetTutorialAgents": lambda: 0,
        "GetTutorials": _empty_rowset("tutorialID", "tutorialName", "nextTutorialID",
                                      "dataID"),
        "GetCriterias": _empty_rowset("criteriaID"),
        "GetCategories": _empty_rowset("categoryID", "categoryName", "description",
                                       "dataID"),
        "GetTutorialsAndConnections": _empty_rowset("tutorialID", "tutorialName",
                                                    "nextTutorialID", "categoryID",
                                                    "dataID"),
    },
    "notificationMgr": {
        "GetByGroupID": lambda: (),            # NotificationMgrService.cpp
        "GetUnprocessed": lambda: (),
    },
    "mailMgr": {
        # MailMgrService.cpp: SyncMail is a KeyVal of MailDB's CRowsets
        "SyncMail": lambda: keyval({
            "oldMail": None,
            "newMail": crowset((("messageID", DBTYPE_I4), ("senderID", DBTYPE_I4),
                                ("toCharacterIDs", DBTYPE_WSTR), ("toListID", DBTYPE_I4),
                                ("toCorpOrAllianceID", DBTYPE_I4), ("title", DBTYPE_WSTR),
                                ("sentDate", DBTYPE_I8)), []),
            "mailStatus": crowset((("messageID", DBTYPE_I4), ("statusMask", DBTYPE_I4),
                                   ("labelMask", DBTYPE_I4)), [])}),
        "GetLabels": lambda: {},
    },
    "mailingListsMgr": {"GetJoinedLists": lambda: {}},
    "calendarProxy": {"GetEventList": lambda: []},
    "calendarMgr": {"GetResponsesForCharacter": lambda: []},
    "onlineStatus": {
        "GetInitialState": _empty_rowset("contactID", "online"),
        "GetOnlineStatus": lambda: False,
    },
    "certificateMgr": {
        "GetMyCertificates": _empty_rowset("certificateID", "grantDate", "visibilityFlags"),
        "GetCertificatesByCharacter": _empty_rowset("certificateID", "grantDate",
                                                    "visibilityFlags"),
    },
    "charFittingMgr": {},
    "standing2": {
        "GetNPCNPCStandings": _empty_rowset("fromID", "toID", "standing"),
        "GetCharStandings": _empty_crowset(("toID", DBTYPE_UI4), ("standing", DBTYPE_I8)),
        "GetSecurityRating": lambda: 0.0,
    },
    "agentMgr": {"GetAgents": _empty_rowset("agentID", "agentTypeID", "divisionID",
                                            "level", "stationID", "bloodlineID",
                                            "quality", "corporationID", "gender")},
    "map": {}, "voiceMgr": {}, "userSvc": {}, "petitioner": {}, "facWarMgr": {},
    "LPSvc": {}, "billMgr": {}, "marketProxy": {}, "contractProxy": {}, "jumpCloneSvc": {},
    "insuranceSvc": {}, "clientStatsMgr": {}, "clientStatLogger": {}, "infoGatheringMgr": {},
    "corpmgr": {}, "corporationSvc": {}, "lookupSvc": {}, "languageSvc": {},
    "devIndexManager": {}, "sovMgr": {}, "fleetProxy": {}, "holoscreenMgr": {},
    "storeServer": {}, "browserLockdownSvc": {}, "alert": {}, "netStateServer": {},
    "epicArcStatus": {}, "missionMgr": {}, "warRegistry": {}, "factory": {},
    "ramProxy": {}, "reprocessingSvc": {}, "repairSvc": {}, "dogma": {},
    "aggressionMgr": {}, "voucher": {}, "search": {}, "scanMgr": {}, "keeper": {},
}


class HarmlessService(Service):
    """A service whose every method answers EVEmu's harmless value (see ANSWERS)."""

    answers = {}

    def __init__(self, manager):
        super().__init__(manager)
        self.logged = set()
        self._methods = {}             # name -> answer function (one per method name)

    def exposed_method(self, name):
        if isinstance(name, bytes):
            name = name.decode("ascii", "replace")
        if not isinstance(name, str) or not name or name.startswith("_") or len(name) > 100:
            return None
        fn = self._methods.get(name)
        if fn is None:
            if len(self._methods) >= 1000:        # a hostile client inventing names
                return None
            factory = self.answers.get(name)

            def answer(call, *args, **kwargs):
                if name not in self.logged:
                    self.logged.add(name)
                    log.info("%s.%s called (not implemented; answering %s)", self.name,
                             name, "EVEmu's empty value" if factory else "None")
                return factory() if factory else None
            answer.__func__ = answer          # the manager caches signatures by function
            fn = self._methods[name] = answer
        return fn


def harmless_classes():
    return [type(f"Harmless_{name}", (HarmlessService,), {"name": name, "answers": answers})
            for name, answers in sorted(ANSWERS.items())]


def register_missing(mgr):
    """Register a harmless service for each name in ANSWERS the manager does not have."""
    for cls in harmless_classes():
        if mgr.lookup(cls.name) is None:
            mgr.register(cls)
