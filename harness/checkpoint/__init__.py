"""checkpoint (being assembled)."""
