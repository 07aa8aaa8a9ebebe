"""probes.inputs (being assembled)."""
