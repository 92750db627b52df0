"""The services the client calls on its way into the station that are not implemented answer
EVEmu's harmless value, and each method is logged once."""
import logging

import pytest

from server_helpers import bounded, running_server
from test_world_items import create_and_select, login

from evemu.client import RemoteError
from evemu.services import harmless
from evemu.wire.marshal import Instance, ObjectEx2


@pytest.fixture
def server():
    with bounded(120), running_server() as srv:
        yield srv


def test_fan_out_answers(server, caplog):
    with login(server, "fanout") as c:
        create_and_select(c, "Fan Out")
        with caplog.at_level(logging.INFO, logger="evemu.services.harmless"):
            assert c.call("tutorialSvc", "GetCharacterTutorialState") == 0
            tut = c.call("tutorialSvc", "GetTutorials")
            assert isinstance(tut, Instance) and tut.name == "util.Rowset"
            assert tut.state[b"lines"] == []
            assert c.call("notificationMgr", "GetByGroupID", 1) == ()
            assert c.call("notificationMgr", "GetUnprocessed") == ()
            mail = c.call("mailMgr", "SyncMail")
            assert mail.name == "util.KeyVal" and mail.state[b"oldMail"] is None
            assert isinstance(mail.state[b"newMail"], ObjectEx2)
            assert mail.state[b"newMail"].list == []
            assert c.call("mailMgr", "GetLabels") == {}
            assert c.call("calendarProxy", "GetEventList", 12, 2026) == []
            assert c.call("charFittingMgr", "GetFittings", 1) is None
            for _ in range(3):
                assert c.call("map", "GetSolarSystemPseudoSecurities") is None
            # a harmless service is an answer, not ServiceNotFound; a name nobody has still is
            with pytest.raises(RemoteError) as e:
                c.call("noSuchServiceAnywhere", "Foo")
            assert e.value.msg == "ServiceNotFound"
    logged = [r.getMessage() for r in caplog.records if r.name == "evemu.services.harmless"]
    assert sum("map.GetSolarSystemPseudoSecurities" in m for m in logged) == 1
    assert sum("tutorialSvc.GetCharacterTutorialState" in m for m in logged) == 1


def test_services_registered_elsewhere_are_not_replaced(server):
    mgr = server.services
    for name in ("station", "account", "charMgr", "invbroker", "objectCaching"):
        assert not isinstance(mgr.lookup(name), harmless.HarmlessService), name
    assert isinstance(mgr.lookup("tutorialSvc"), harmless.HarmlessService)
    # a hostile client inventing method names does not grow the server without bound
    svc = mgr.lookup("map")
    for i in range(1100):
        svc.exposed_method(f"Invented{i}")
    assert len(svc._methods) <= 1000
    assert svc.exposed_method("_private") is None and svc.exposed_method("x" * 200) is None
