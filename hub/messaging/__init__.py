"""Messages to people (SMS now, app inbox later): services enqueue here; the sms worker delivers."""
