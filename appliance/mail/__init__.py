"""Email through the office's own mail server (issue 16): the admin's SMTP settings, a
bounded background sender, and what is mailed (digests of missed messages, password reset
links, invitations). Off until an admin configures it; nothing else waits for a mail."""
