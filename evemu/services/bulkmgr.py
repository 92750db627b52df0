"""``bulkMgr``: the client's bulk data (its own copy of the static data) is current.

EVEmu's BulkMgrService constants: changeID 107232020, branch 4.  ``UpdateBulk`` with the same
change and branch answers ``{'type': updateBulkStatusOK, 'version': changeID,
'allowUnsubmitted': False}``; another change answers TooManyRevisions and another branch
WrongBranch (the client then asks GetFullFiles, which this server does not serve: it ships no
bulk files, and answers an empty set).
"""
from . import Service, exposed

BULK_DATA_CHANGE_ID = 107232020
BULK_DATA_BRANCH = 4
STATUS_OK, STATUS_WRONG_BRANCH, STATUS_HASH_MISMATCH = 0, 1, 2
STATUS_CLIENT_NEWER, STATUS_NEED_TO_UPDATE, STATUS_TOO_MANY_REVISIONS = 3, 4, 5


class BulkMgrService(Service):
    name = "bulkMgr"
    access = "bulk"

    @exposed
    def UpdateBulk(self, call, changeID, hashValue=None, branch=BULK_DATA_BRANCH):
        if changeID != BULK_DATA_CHANGE_ID:
            status = STATUS_TOO_MANY_REVISIONS
        elif branch != BULK_DATA_BRANCH:
            status = STATUS_WRONG_BRANCH
        else:
            status = STATUS_OK
        return {b"type": status, b"version": BULK_DATA_CHANGE_ID, b"allowUnsubmitted": False}

    @exposed
    def GetVersion(self, call):
        return (BULK_DATA_CHANGE_ID, BULK_DATA_BRANCH)

    @exposed
    def GetAllBulkIDs(self, call):
        return []

    @exposed
    def GetFullFiles(self, call, toGet=None):
        """(toBeChanged, bulksEndingInChunk, numberOfChunks, chunkSetID, allowUnsubmitted)"""
        return ({}, [], 0, 0, False)
