"""nn stage."""
