"""The catalog: what has been archived, in SQLite or PostgreSQL."""
