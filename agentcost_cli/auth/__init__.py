"""Pure authentication primitives: password hashing, API keys, TOTP, tokens and secret encryption."""
