"""Catalogues as data: the treatment place's items (``catalogues/<region>_<label>.csv``).

Columns ``code, name, category, class, class_b_self_pay_first, price_limit``; blank share
or limit means none. A bad row is refused with its line number; nothing half-loaded.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import io
from collections.abc import Sequence
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from yilian.errors import InvalidInput, NotFound
from yilian.settlement.engine import (
    Catalogue,
    CatalogueItem,
    ItemCategory,
    ItemClass,
    region_prefix,
)

PACKAGED_CATALOGUES = Path(__file__).parent / "catalogues"
COLUMNS = ("code", "name", "category", "class", "class_b_self_pay_first", "price_limit")


def _problem(line: int, zh: str, en: str) -> dict[str, Any]:
    return {"line": line, "message_zh": zh, "message_en": en}


def _amount(text: str, *, share: bool) -> Decimal | None:
    if not text.strip():
        return None
    value = Decimal(text.strip())
    if not value.is_finite() or value < 0 or (share and value > 1):
        raise InvalidOperation(text)
    return value


def _row(line: int, row: dict[str, str]) -> CatalogueItem:
    try:
        return CatalogueItem(
            code=row["code"].strip(),
            name=row["name"].strip(),
            category=ItemCategory(row["category"].strip()),
            item_class=ItemClass(row["class"].strip().upper()),
            class_b_self_pay_first=_amount(row["class_b_self_pay_first"], share=True),
            price_limit=_amount(row["price_limit"], share=False),
        )
    except (ValueError, InvalidOperation) as exc:
        raise InvalidInput(
            "catalogue_invalid", f"目录第 {line} 行有误：{exc}", f"Catalogue line {line}: {exc}",
            [_problem(line, f"无效取值：{exc}", f"invalid value: {exc}")],
        ) from None


def parse_catalogue(text: str, *, source: str, region_code: str = "") -> Catalogue:
    """A catalogue from CSV text (UTF-8, optional BOM); InvalidInput on the first bad row."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    missing = [column for column in COLUMNS if column not in (reader.fieldnames or [])]
    if missing:
        raise InvalidInput(
            "catalogue_invalid", f"目录文件 {source} 缺少列：{', '.join(missing)}",
            f"Catalogue file {source} lacks columns: {', '.join(missing)}",
        )
    items: dict[str, CatalogueItem] = {}
    for line, row in enumerate(reader, start=2):
        item = _row(line, row)
        if not item.code or item.code in items:
            raise InvalidInput(
                "catalogue_invalid", f"目录文件 {source} 第 {line} 行编码为空或重复：{item.code}",
                f"Catalogue file {source} line {line}: empty or repeated code {item.code}",
            )
        items[item.code] = item
    digest = hashlib.sha256(text.encode()).hexdigest()[:12]
    return Catalogue(region_code=region_code, version=f"{Path(source).stem}@{digest}",
                     items=items)


def load_catalogue(path: Path) -> Catalogue:
    """A catalogue from a CSV file; a ``<region>_`` file name prefix names its region."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput("catalogue_unreadable", f"无法读取目录文件 {path}：{exc}",
                           f"Cannot read catalogue file {path}: {exc}") from None
    region = path.stem.split("_", 1)[0]
    return parse_catalogue(text, source=path.name, region_code=region if region.isdigit() else "")


@functools.cache
def load_catalogues(folder: Path = PACKAGED_CATALOGUES) -> tuple[Catalogue, ...]:
    """Every catalogue in a folder."""
    return tuple(load_catalogue(path) for path in sorted(folder.glob("*.csv")))


def find_catalogue(catalogues: Sequence[Catalogue], *, treatment_region: str) -> Catalogue:
    """The treatment place's catalogue: the one whose region most specifically contains it."""
    fitting = [c for c in catalogues
               if c.region_code and treatment_region.startswith(region_prefix(c.region_code))]
    if not fitting:
        raise NotFound("医保目录", "Catalogue for treatment region", treatment_region)
    return max(fitting, key=lambda c: len(region_prefix(c.region_code)))
