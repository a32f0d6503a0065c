"""The project's base API models and the page envelope shared by every list endpoint."""

from __future__ import annotations

from typing import Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

T = TypeVar("T")


class ReadModel(BaseModel):
    """Base of every response shape: built from ORM objects."""

    model_config = ConfigDict(from_attributes=True)


class WriteModel(BaseModel):
    """Base of every request shape: unknown fields are an error, text is trimmed."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Page(BaseModel, Generic[T]):
    """One page of a list, with the total number of matches."""

    items: list[T]
    total: int
    offset: int
    limit: int


class PageParams(BaseModel):
    """Paging asked for by a client."""

    offset: int = Field(default=0, ge=0)
    limit: int = Field(default=50, ge=1, le=200)
