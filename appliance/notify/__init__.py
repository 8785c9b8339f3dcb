"""Who is told about a message, when, and how: notification settings, the rule that applies
them, and the channels that carry a notification out of an open tab (Web Push, email)."""
