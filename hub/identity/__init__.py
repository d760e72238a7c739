"""Identity: accounts, credentials, verification codes, lockout, tokens (统一认证)."""
