"""``report.html``: the package's readable page (GDPR Art. 15): the data, why it is held, and the rights."""

from __future__ import annotations

import json
from collections.abc import Iterator
from html import escape
from typing import Any, Protocol

# Records per entity shown on the page; all of them are in data.json and the CSVs.
REPORT_ROWS = 200


class Contents(Protocol):
    """What the page shows of each (source, entity), in order: its columns, its record count and its first
    records (the CSV spool keeps them)."""

    order: list[tuple[str, str]]
    columns: dict[tuple[str, str], dict[str, None]]
    counts: dict[tuple[str, str], int]
    samples: dict[tuple[str, str], list[dict[str, Any]]]


_STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:72rem;padding:0 1rem;color:#1b1b1b;line-height:1.45}
h1{font-size:1.6rem}h2{margin-top:2.5rem;border-bottom:1px solid #ccc}h3{margin-top:1.8rem}
table{border-collapse:collapse;font-size:.85rem;display:block;overflow-x:auto}
th,td{border:1px solid #ddd;padding:.25rem .5rem;text-align:left;vertical-align:top}th{background:#f3f3f3}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.2rem 1rem}dt{font-weight:600}.none{color:#666}
.more{font-style:italic}
"""

RIGHTS = [
    (
        "Rectification (Art. 16)",
        "You may have inaccurate data about you corrected and incomplete data completed.",
    ),
    (
        "Erasure (Art. 17)",
        "You may ask us to erase your data; we keep only what the law requires us to keep.",
    ),
    (
        "Restriction (Art. 18)",
        "You may ask us to restrict processing while accuracy or lawfulness is checked.",
    ),
    (
        "Portability (Art. 20)",
        "You receive this data in machine-readable formats (data.json and CSV) and may pass it to another provider.",
    ),
    (
        "Objection (Art. 21)",
        "You may object to processing based on legitimate interests or for direct marketing.",
    ),
    (
        "Complaint (Art. 77)",
        "You may lodge a complaint with a data protection supervisory authority, in particular in the member "
        "state where you live or work.",
    ),
]
_STRATEGY = {"delete": "deleted", "keep": "kept", "anonymize": "anonymized"}


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return escape(json.dumps(value, ensure_ascii=False))
    return escape(str(value))


def _list(values: list[str]) -> str:
    return escape(", ".join(values)) if values else '<span class="none">not stated</span>'


def report_html(
    contents: Contents,
    describe: list[dict[str, Any]],
    *,
    request: dict[str, Any],
    customer: dict[str, Any] | None,
) -> Iterator[str]:
    """The page in pieces; every value is HTML-escaped.

    A page with hundreds of thousands of rows helps nobody read it: each entity shows its first records
    (``contents.samples``, at most :data:`REPORT_ROWS`) and says how many more are in its CSV file and in
    ``data.json``."""
    yield '<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>Your personal data</title>'
    yield f"<style>{_STYLE}</style></head><body>\n<h1>Your personal data</h1>\n"
    yield "<p>This is a copy of the personal data we hold about you, with why we hold it and who receives it."
    yield " The same data is in <code>data.json</code> and in one CSV file per kind of record.</p>\n<dl>"
    if customer:
        yield f"<dt>Customer</dt><dd>{_text(customer.get('name'))} &lt;{_text(customer.get('email'))}&gt;"
        yield f" ({_text(customer.get('id'))})</dd>"
    for key in ("id", "type", "regulation", "received_at", "due_at"):
        if request.get(key) is not None:
            yield f"<dt>Request {escape(key.replace('_', ' '))}</dt><dd>{_text(request[key])}</dd>"
    yield "</dl>\n<h2>Your rights</h2>\n<dl>"
    for right, text in RIGHTS:
        yield f"<dt>{escape(right)}</dt><dd>{escape(text)}</dd>"
    yield "</dl>\n"
    meta = {(d["source"], d["entity"]): d for d in describe}
    current = None
    for source, entity in contents.order:
        if source != current:
            yield f"<h2>Source: {escape(source)}</h2>\n"
            current = source
        about = meta.get((source, entity)) or meta.get((source, None)) or {}
        yield f"<h3>{escape(entity)} ({contents.counts[(source, entity)]:,} records)</h3>\n<dl>"
        yield f"<dt>Purpose</dt><dd>{_text(about.get('purpose')) or '<span class=none>not stated</span>'}</dd>"
        yield f"<dt>Categories</dt><dd>{_list(about.get('categories', []))}</dd>"
        yield f"<dt>Recipients</dt><dd>{_list(about.get('recipients', []))}</dd>"
        retention = about.get("retention") or "until you ask us to erase it or the purpose ends"
        yield f"<dt>Retention</dt><dd>{_text(retention)}</dd>"
        if about.get("erase"):
            yield f"<dt>On erasure</dt><dd>{escape(_STRATEGY.get(about['erase'], about['erase']))}</dd>"
        yield "</dl>\n"
        columns = list(contents.columns[(source, entity)])
        count = contents.counts[(source, entity)]
        if not count:
            yield '<p class="none">No records.</p>\n'
            continue
        yield (
            "<table><thead><tr>"
            + "".join(f"<th>{escape(c)}</th>" for c in columns)
            + "</tr></thead><tbody>\n"
        )
        shown = contents.samples[(source, entity)]
        for record in shown:
            yield "<tr>" + "".join(f"<td>{_text(record.get(c))}</td>" for c in columns) + "</tr>\n"
        yield "</tbody></table>\n"
        if count > len(shown):
            more = count - len(shown)
            yield (
                f'<p class="more">{more:,} more {"record is" if more == 1 else "records are"} in '
                f"<code>{escape(source)}/{escape(entity)}.csv</code> and <code>data.json</code>.</p>\n"
            )
    yield "</body></html>\n"
