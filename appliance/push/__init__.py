"""Web Push (RFC 8030, 8291, 8292): notifying a person's devices while the app is closed,
through each browser vendor's push service on the internet. Off unless the admin turns it
on: the only thing that leaves the building is an encrypted payload to that service."""
