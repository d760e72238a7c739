"""channels package (filled by its issue)."""
