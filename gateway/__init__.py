"""gateway package (filled by its issue)."""
