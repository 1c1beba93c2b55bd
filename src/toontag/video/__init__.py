"""Video: index episodes into a character timeline, and query it."""
