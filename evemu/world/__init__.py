"""World simulation (later): solar systems, items, the destiny ball park (protocol notes
section 4.2).  Nothing lives here yet; services that need it say so."""
