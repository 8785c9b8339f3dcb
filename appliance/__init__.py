"""Pychat: a self-hosted company chat that runs as a LAN appliance."""

__version__ = "0.1.0"
