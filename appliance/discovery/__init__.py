"""Being found on the LAN: the device name rule, mDNS announcements and name conflicts."""
