"""runner (being assembled)."""
