"""Narrow privileged operations for an unprivileged server (docs/operations.md).

The server runs as `pychat` with NoNewPrivileges, so it cannot use sudo. What needs root
(the hostname, reboot, power off, Wi-Fi) is asked of a separate root helper over a unix
socket that only root and the pychat group can open:

    validate.py   strict argument checks (shared by both sides)
    commands.py   the command table; each command turns arguments into a plan (data)
    protocol.py   one JSON request line and one JSON reply line per connection
    connection.py the root side: check the caller, read, validate, execute, answer
    executor.py   the only code that changes the host (or a dry run that describes)
    client.py     the asking side: `await call("reboot")`, and the command line's
    claimcopy.py  copies the first-boot claim code to the boot partition
"""
