"""The shared drawing board of a room (issue 7): ops, the in-memory board, live viewers."""
