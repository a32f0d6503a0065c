"""The project's base API models and the page envelope shared by every list endpoint."""

from __future__ import annotations

from typing import Annotated, Any, Generic, TypeVar

from annotated_types import Interval
from pydantic import BaseModel, ConfigDict, Field, field_validator

T = TypeVar("T")

LARGEST_KEY = 2**31 - 1  # the largest value of an integer column (PostgreSQL's INTEGER)
# A row id in a path or a query: beyond an integer column's range no row can exist, and the
# database driver would fail on it (a server error); such a value is refused instead.
Key = Annotated[int, Interval(ge=-LARGEST_KEY - 1, le=LARGEST_KEY)]


class ReadModel(BaseModel):
    """Base of every response shape: built from ORM objects."""

    model_config = ConfigDict(from_attributes=True)


class WriteModel(BaseModel):
    """Base of every request shape: unknown fields are an error, text is trimmed."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @field_validator("*")
    @classmethod
    def _fits_the_database(cls, value: Any) -> Any:
        """A whole number beyond an integer column's range names no row and fits no column."""
        numbers = value if isinstance(value, (list, tuple, set, frozenset)) else (value,)
        if any(type(number) is int and not -LARGEST_KEY - 1 <= number <= LARGEST_KEY
               for number in numbers):
            raise ValueError("数值超出范围 / Number out of range")
        return value


class Page(BaseModel, Generic[T]):
    """One page of a list, with the total number of matches."""

    items: list[T]
    total: int
    offset: int
    limit: int


class PageParams(BaseModel):
    """Paging asked for by a client."""

    offset: int = Field(default=0, ge=0, le=LARGEST_KEY)
    limit: int = Field(default=50, ge=1, le=200)
