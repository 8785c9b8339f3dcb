"""The wall clock of a Pi without a clock battery: the time from the office's browsers, and
keeping deadlines true when the clock steps (whether it is synchronised: system/clock.py)."""
