"""The advisor's ranking rules, each a small pure function: distance between places, a factor's
score among the candidates, the weights as shares, and the order of the candidates."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

EARTH_RADIUS_KM = 6371.0088  # mean radius (IUGG)


def great_circle_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Distance along the earth's surface between two points (haversine), in km."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    d_phi, d_lambda = phi2 - phi1, math.radians(lon2 - lon1)
    a = math.sin(d_phi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(d_lambda / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


def lower_is_better(values: Sequence[float | None]) -> list[float]:
    """Min-max scores where less is better (cost, wait, distance): the best candidate 1, the
    worst 0, unknown 0; when every known value is the same they all score 1."""
    known = [value for value in values if value is not None]
    if not known:
        return [0.0 for _ in values]
    low, high = min(known), max(known)
    return [0.0 if value is None else 1.0 if high == low else (high - value) / (high - low)
            for value in values]


def higher_is_better(values: Sequence[float | None]) -> list[float]:
    """Min-max scores where more is better (recognisable results held)."""
    return lower_is_better([None if value is None else -value for value in values])


def shares(weights: Mapping[str, float]) -> dict[str, float]:
    """The weights as shares of one (the request's weights are any non-negative numbers)."""
    total = sum(weights.values())
    return {name: (weight / total if total > 0 else 0.0) for name, weight in weights.items()}


def weighted_total(scores: Mapping[str, float], weight_shares: Mapping[str, float]) -> float:
    """A candidate's total: each factor's score times its share, summed (0 … 1)."""
    return sum(scores[name] * weight_shares.get(name, 0.0) for name in scores)
