"""HTTPS: the device's own CA and certificate, uploaded certificates, the listeners, and
how to trust the CA."""
