"""The first-boot wizard: claim the device, name it, secure it, open it to the team."""
