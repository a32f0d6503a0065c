"""Authentication (who you are) and authorization (what you may do), in one place."""
