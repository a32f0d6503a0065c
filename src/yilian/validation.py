"""Clerk-readable, bilingual descriptions of Pydantic validation errors."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

# Chinese wording for the Pydantic error types a form or CSV row most often hits.
_ZH_BY_TYPE: Mapping[str, str] = {
    "missing": "必填",
    "string_too_short": "太短",
    "string_too_long": "太长",
    "string_pattern_mismatch": "格式不对",
    "string_type": "应为文本",
    "int_parsing": "应为整数",
    "int_type": "应为整数",
    "float_parsing": "应为数字",
    "decimal_parsing": "应为数字",
    "bool_parsing": "应为是/否",
    "date_from_datetime_parsing": "应为日期（YYYY-MM-DD）",
    "date_parsing": "应为日期（YYYY-MM-DD）",
    "datetime_parsing": "应为日期时间",
    "datetime_from_date_parsing": "应为日期时间",
    "enum": "不是允许的取值",
    "literal_error": "不是允许的取值",
    "greater_than_equal": "太小",
    "greater_than": "太小",
    "less_than_equal": "太大",
    "less_than": "太大",
    "json_invalid": "不是有效的 JSON",
    "model_attributes_type": "格式不对",
    "dict_type": "格式不对",
    "list_type": "应为列表",
    "extra_forbidden": "不允许的字段",
    "value_error": "取值无效",
}


def _field(loc: Sequence[Any]) -> str:
    parts = [str(part) for part in loc if part not in ("body", "query", "path", "form")]
    return ".".join(parts) or "-"


def describe_validation_errors(
    errors: Sequence[Mapping[str, Any]],
) -> tuple[str, str, list[dict[str, Any]]]:
    """Chinese and English one-line summaries and a per-field list of what is wrong."""
    details: list[dict[str, Any]] = []
    zh_parts: list[str] = []
    en_parts: list[str] = []
    for error in errors:
        field = _field(error.get("loc", ()))
        message_en = str(error.get("msg", "invalid"))
        kind = str(error.get("type", ""))
        message_zh = _ZH_BY_TYPE.get(kind, "取值无效")
        if kind == "value_error":
            # Our own validators raise "中文 / English"; keep the Chinese half for zh.
            text = message_en.removeprefix("Value error, ")
            message_en = text
            if " / " in text:
                message_zh, message_en = text.split(" / ", 1)
        details.append({"field": field, "message_zh": message_zh, "message_en": message_en})
        zh_parts.append(f"{field}：{message_zh}")
        en_parts.append(f"{field}: {message_en}")
    return (
        "输入有误：" + "；".join(zh_parts),
        "Invalid input: " + "; ".join(en_parts),
        details,
    )
