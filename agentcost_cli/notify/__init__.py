"""Messages to people: templates now; delivery (email, webhooks, chat) with the notifications work."""
