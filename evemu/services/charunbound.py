"""``charUnboundMgr``: the character selection screen (protocol notes section 4.1, step 3)."""
from evemu.wire.marshal import (DBTYPE_I1, DBTYPE_I4, DBTYPE_UI4, DBTYPE_UI8, DBTYPE_WSTR,
                                DBRowDescriptor, ObjectEx2, PackedRow, Token)

from . import Service, exposed

#: The columns EVEmu sends (CharacterDB::GetCharacterList), with its column types.
CHARACTER_SELECT_COLUMNS = (
    ("characterID", DBTYPE_UI4),
    ("characterName", DBTYPE_WSTR),
    ("deletePrepareDateTime", DBTYPE_UI8),
    ("gender", DBTYPE_I1),
    ("typeID", DBTYPE_I4),
)


def crowset(columns, rows):
    """A ``dbutil.CRowset`` of PackedRows (an ObjectEx2, protocol notes 2.4)."""
    desc = DBRowDescriptor(list(columns))
    return ObjectEx2(((Token("dbutil.CRowset"),), {b"header": desc}),
                     [PackedRow(desc, tuple(r)) for r in rows], {})


class CharUnboundMgrService(Service):
    name = "charUnboundMgr"

    @exposed
    def GetCharactersToSelect(self, call):
        chars = self.db.characters_of(call.userid)
        return crowset(CHARACTER_SELECT_COLUMNS,
                       [(c.characterID, c.characterName, c.deletePrepareDateTime, c.gender,
                         c.typeID) for c in chars])
