"""mobile_api package (filled by its issue)."""
