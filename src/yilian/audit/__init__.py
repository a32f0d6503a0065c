"""Audit trail: an append-only record of every write and every read of patient data."""
