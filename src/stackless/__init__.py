"""The stackless package (C core in _stackless)."""
