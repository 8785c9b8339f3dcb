"""The operating system under the server: network interfaces, systemd's notify protocol and
watchdog, durable file writes, and whether the system clock is synchronised."""
