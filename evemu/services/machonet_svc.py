"""``machoNet``: time and the initial values of a session (protocol notes section 4.1)."""
from evemu.db import filetime_now

from . import Service, exposed

SERVICE_INFO_ID = b"machoNet.serviceInfo"


class MachoNetService(Service):
    name = "machoNet"

    @exposed
    def GetTime(self, call):
        """The server's clock as a FILETIME."""
        return filetime_now()

    @exposed
    def GetInitVals(self, call):
        """``(hint for machoNet.serviceInfo, {})``: the client then fetches the service map
        (service name -> routing access level) through objectCaching."""
        cache = self.manager.lookup("objectCaching").store
        if not cache.has(SERVICE_INFO_ID):
            cache.put(SERVICE_INFO_ID, self.manager.service_info())
        return (cache.hint(SERVICE_INFO_ID), {})

    @exposed
    def GetClusterSessionStatistics(self, call):
        """``({solarSystemID-30000000: pilots}, {...docked}, divisor)``; nobody is in space yet
        (the world is not simulated), so both maps are empty."""
        return ({}, {}, 1.0)
