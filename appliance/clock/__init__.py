"""The wall clock of a Pi without a clock battery: is it synchronised, the time from the
office's browsers, and keeping deadlines true when the clock steps."""
