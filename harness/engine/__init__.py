"""engine (being assembled)."""
