"""portal_web package (filled by its issue)."""
