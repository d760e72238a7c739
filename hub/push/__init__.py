"""Unified push (统一推送): one service decides per person and message type whether a notice goes to the
app inbox, SMS or both (preferences, urgency, quiet hours); fed by business events and by sync events."""
