"""Stationed experts, visiting clinics, remote booking and self check-in (issue 5)."""
