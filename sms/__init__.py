"""sms package (filled by its issue)."""
