"""The data folder's lifecycle: backup archives (download and USB), checking and restoring
them, and the factory reset."""
