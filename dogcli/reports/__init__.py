"""Reports: what the archive holds (stats) and whether it is healthy (health)."""
