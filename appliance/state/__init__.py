"""One home for the process's state: `Services` (what every action works with) and the
typed keys under which the aiohttp Application holds each long-lived object."""
