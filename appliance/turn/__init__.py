"""The TURN server (the protocol engine is `appliance.rtc`) run inside `pychat serve`: its
settings, credentials for signed-in users and the live peer policy."""
