"""``paperDollServer`` and ``photoUploadSvc``: answered harmlessly (EVEmu PaperDollService /
PhotoUploadService shapes), the character's appearance is not stored yet.

GetPaperDollData / GetPaperDollPortraitDataFor: empty ``dbutil.CRowset``s with EVEmu's columns
(avatar_colors, chrPortraitData); GetMyPaperDollData: ``util.KeyVal`` of colors, modifiers,
appearance, sculpts; the Update*/Convert* calls None; photoUploadSvc.Upload True.
"""
import logging

from evemu.wire.marshal import DBTYPE_I4, DBTYPE_R4

from . import Service, exposed
from .rowsets import crowset, keyval

log = logging.getLogger("evemu.services.paperdoll")

COLORS = (("colorID", DBTYPE_I4), ("colorNameA", DBTYPE_I4), ("colorNameBC", DBTYPE_I4),
          ("weight", DBTYPE_R4), ("gloss", DBTYPE_R4))
MODIFIERS = (("modifierLocationID", DBTYPE_I4), ("paperdollResourceID", DBTYPE_I4),
             ("paperdollResourceVariation", DBTYPE_I4))
SCULPTS = (("sculptLocationID", DBTYPE_I4), ("weightUpDown", DBTYPE_R4),
           ("weightLeftRight", DBTYPE_R4), ("weightForwardBack", DBTYPE_R4))
PORTRAIT = tuple([("charID", DBTYPE_I4), ("backgroundID", DBTYPE_I4), ("lightID", DBTYPE_I4),
                  ("lightColorID", DBTYPE_I4)] + [(n, DBTYPE_R4) for n in (
                      "cameraX cameraY cameraZ cameraPoiX cameraPoiY cameraPoiZ "
                      "headLookTargetX headLookTargetY headLookTargetZ lightIntensity headTilt "
                      "orientChar browLeftCurl browLeftTighten browLeftUpDown browRightCurl "
                      "browRightTighten browRightUpDown eyeClose eyesLookVertical "
                      "eyesLookHorizontal squintLeft squintRight jawSideways jawUp puckerLips "
                      "frownLeft frownRight smileLeft smileRight cameraFieldOfView "
                      "portraitPoseNumber").split()])


class PaperDollService(Service):
    name = "paperDollServer"
    access = "character"

    @exposed
    def GetPaperDollData(self, call, characterID):
        return crowset(COLORS, [])

    @exposed
    def GetMyPaperDollData(self, call, characterID=None):
        return keyval({"colors": crowset(COLORS, []), "modifiers": crowset(MODIFIERS, []),
                       "appearance": None, "sculpts": crowset(SCULPTS, [])})

    @exposed
    def GetPaperDollPortraitDataFor(self, call, characterID):
        return crowset(PORTRAIT, [])

    @exposed
    def ConvertAndSavePaperDoll(self, call, *args):
        return None

    @exposed
    def UpdateExistingCharacterFull(self, call, characterID, dollInfo, portraitInfo,
                                    dollExists=False):
        return None

    @exposed
    def UpdateExistingCharacterLimited(self, call, characterID, dollData, portraitInfo,
                                       dollExists=False):
        return None


class PhotoUploadService(Service):
    name = "photoUploadSvc"

    @exposed
    def Upload(self, call, contents):
        log.info("%s: portrait received (%d bytes, not stored)", call.connection,
                 len(contents) if isinstance(contents, (bytes, str)) else 0)
        return True
