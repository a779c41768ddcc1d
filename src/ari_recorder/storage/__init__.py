"""What must survive a restart: calls, segments, recordings, settings, in SQL (SQLite or PostgreSQL)."""
