"""Referral pages (filled in below)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/referrals", include_in_schema=False)
