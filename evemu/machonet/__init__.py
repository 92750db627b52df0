"""MachoNet: the login handshake, the packet types and their addresses, sessions, and call
dispatch (one tasklet per call).  Protocol notes sections 3.1 - 3.4.

``handshake``  -- the login state machine (version exchange ... SessionInitialState)
``packets``    -- Packet / Address <-> marshal values, UserError and GPSTransportClosed
``session``    -- session attributes and change notifications
``connection`` -- one client: reader tasklet, call tasklets, serialised writes
``server``     -- the listening socket and the registry of connections
"""
