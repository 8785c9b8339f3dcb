"""The operating system under the server: network interfaces, systemd's notify protocol and
watchdog, and durable file writes."""
