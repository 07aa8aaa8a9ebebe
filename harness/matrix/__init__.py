"""matrix (being assembled)."""
