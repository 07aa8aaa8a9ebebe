"""server (being assembled)."""
