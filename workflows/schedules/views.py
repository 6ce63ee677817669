"""Console pages of schedules (filled below)."""
