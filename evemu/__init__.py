"""EVEmu: an EVE Online (Crucible) server emulator on stackless tasklets."""
