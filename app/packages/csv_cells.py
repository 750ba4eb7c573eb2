"""What a CSV cell holds: nested values as JSON, and text a spreadsheet would run as a formula defused.

``data.json`` keeps every value as it is; only the CSV files, made to be opened in spreadsheets, change them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

# OWASP "CSV injection": a cell starting with one of these is run as a formula by spreadsheets (the full-width
# forms too, in some locales). Such text is written with a leading apostrophe, which spreadsheets show as text.
_FORMULA_START = frozenset("=+-@\t\r\uff1d\uff0b\uff0d\uff20")
# A plain number written as text (a decimal, a signed amount) is not a formula: it stays a number.
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)


def is_formula(value: Any) -> bool:
    """Whether a spreadsheet would run the value as a formula."""
    return isinstance(value, str) and value[:1] in _FORMULA_START and not _NUMBER.fullmatch(value)


def needs_care(values: list[Any]) -> bool:
    """Whether any of the values must go through :func:`cell` (most batches of SQL rows need not)."""
    if not set(map(type, values)).isdisjoint((dict, list)):
        return True
    return texts_need_care([values])


def texts_need_care(columns: list[Sequence[Any]]) -> bool:
    """:func:`needs_care` for columns known to hold no nested value: only the text's first characters matter."""
    for values in columns:
        # The text cells' first characters first: a set built in one pass is far cheaper than a call per cell, and
        # only values with a formula-like start (a negative amount as text, say) need the exact test.
        starts = {value[:1] for value in values if isinstance(value, str)}
        if not _FORMULA_START.isdisjoint(starts) and any(map(is_formula, values)):
            return True
    return False


def cell(value: Any) -> Any:
    """A value as the CSV writes it: nested values as JSON, formula-like text with a leading apostrophe."""
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, default=str)
    if is_formula(value):
        return "'" + value
    return value
