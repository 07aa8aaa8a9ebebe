"""measure (being assembled)."""
