"""A small shipped ICD-10 catalogue of common referral diagnoses, for the form's lookup."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources


@dataclass(frozen=True)
class Diagnosis:
    """An ICD-10 code with its Chinese and English names."""

    code: str
    name: str
    name_en: str


@lru_cache
def catalogue() -> tuple[Diagnosis, ...]:
    """Every diagnosis of the shipped catalogue, in file order."""
    text = resources.files(__package__).joinpath("icd10.csv").read_text(encoding="utf-8")
    return tuple(Diagnosis(row["code"], row["name"], row["name_en"])
                 for row in csv.DictReader(io.StringIO(text)))


def find(code: str) -> Diagnosis | None:
    """The catalogue's diagnosis with this code (case-insensitive), if listed."""
    wanted = code.strip().upper()
    return next((d for d in catalogue() if d.code == wanted), None)


def search(text: str, *, limit: int = 15) -> list[Diagnosis]:
    """Diagnoses whose code starts with, or whose name contains, the text."""
    term = text.strip()
    if not term:
        return []
    upper = term.upper()
    return [d for d in catalogue() if d.code.startswith(upper) or term in d.name
            or term.lower() in d.name_en.lower()][:limit]
