"""Draw one trace as an SVG waterfall: the picture of an order's trace in the docs.

The spans come from a real run, not from a drawing: the end-to-end trace test
(`tests/e2e/test_tracing.py`) writes the order's trace as JSON when
``MONGOSHOP_TRACE_DUMP`` names a file, as its OTLP receiver decoded it.

    MONGOSHOP_TRACE_DUMP=/tmp/order-trace.json ./scripts/test tests/e2e/test_tracing.py
    python tools/trace_picture.py /tmp/order-trace.json docs/images/order-trace.svg

One row per span, in the trace's tree order (children under their parent, by start
time), indented by depth and coloured by the process that sent it; the bars sit on
one time axis from the request's start. Only names and a few chosen attributes are
drawn (the same ones the spans carry: nothing secret is in them, the test checks).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping, Sequence
from html import escape
from pathlib import Path
from typing import Any

SHOWN_ATTRIBUTES = (
    "db.mongodb.collection",
    "mongoshop.attempt",
    "mongoshop.stream",
    "mongoshop.mail.kind",
    "http.response.status_code",
    "http.status_code",
    "mongoshop.outcome",
)
"""What a row says after the span's name, when the span has it."""
COLOURS = {"mongoshop-api": "#3b6fb6", "mongoshop-worker": "#d9822b"}
OTHER_COLOUR = "#7a7a7a"
ROW, LABELS, BARS, TOP = 20, 470, 560, 46


def tree_order(spans: Sequence[Mapping[str, Any]]) -> list[tuple[int, Mapping[str, Any]]]:
    """(depth, span) from the root down, children by start time; a span whose parent is
    not in the trace (a lost export) is drawn as a root rather than dropped."""
    ids = {span["span_id"] for span in spans}
    children: dict[str, list[Mapping[str, Any]]] = {}
    for span in spans:
        parent = span["parent_id"] if span["parent_id"] in ids else ""
        children.setdefault(parent, []).append(span)
    ordered: list[tuple[int, Mapping[str, Any]]] = []

    def visit(parent: str, depth: int) -> None:
        for span in sorted(children.get(parent, []), key=lambda s: int(s["start_ns"])):
            ordered.append((depth, span))
            visit(span["span_id"], depth + 1)

    visit("", 0)
    return ordered


def label(span: Mapping[str, Any]) -> str:
    """The span's name (a command's without its database: a test's is random) and what
    `SHOWN_ATTRIBUTES` it has."""
    attributes = span.get("attributes", {})
    name = str(span["name"])
    database = attributes.get("db.name")
    if database and name.startswith(f"{database}."):
        name = name.removeprefix(f"{database}.")
    said = [
        f"{key.rsplit('.', 1)[-1]}={attributes[key]}"
        for key in SHOWN_ATTRIBUTES
        if key in attributes
    ]
    return " ".join([name, *said])


def render(spans: Sequence[Mapping[str, Any]], title: str = "") -> str:
    """The SVG text of the waterfall (an empty trace draws an empty frame)."""
    rows = tree_order(spans)
    start = min((int(s["start_ns"]) for s in spans), default=0)
    end = max((int(s["end_ns"]) for s in spans), default=start + 1)
    scale = BARS / max(end - start, 1)
    height = TOP + ROW * len(rows) + 30
    width = LABELS + BARS + 20
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'font-family="monospace" font-size="11">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="8" y="18" font-size="13" font-weight="bold">{escape(title)}</text>',
    ]
    for index, service in enumerate(COLOURS):
        out.append(
            f'<rect x="{8 + index * 170}" y="28" width="10" height="10" fill="{COLOURS[service]}"/>'
            f'<text x="{22 + index * 170}" y="37">{escape(service)}</text>'
        )
    total_ms = (end - start) / 1e6
    out.append(
        f'<text x="{LABELS}" y="37">0 ms</text>'
        f'<text x="{LABELS + BARS}" y="37" text-anchor="end">{total_ms:,.0f} ms</text>'
    )
    for row, (depth, span) in enumerate(rows):
        y = TOP + row * ROW
        colour = COLOURS.get(str(span.get("service", "")), OTHER_COLOUR)
        x = LABELS + (int(span["start_ns"]) - start) * scale
        bar = max((int(span["end_ns"]) - int(span["start_ns"])) * scale, 2.0)
        took_ms = (int(span["end_ns"]) - int(span["start_ns"])) / 1e6
        if row % 2:
            out.append(f'<rect x="0" y="{y}" width="{width}" height="{ROW}" fill="#f4f4f4"/>')
        out.append(
            f'<text x="{8 + depth * 14}" y="{y + 14}">{escape(label(span))}</text>'
            f'<rect x="{x:.1f}" y="{y + 4}" width="{bar:.1f}" height="{ROW - 8}" '
            f'fill="{colour}"><title>{escape(str(span["name"]))}: {took_ms:,.1f} ms</title></rect>'
        )
    out.append("</svg>")
    return "\n".join(out) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("dump", type=Path, help="the trace as JSON (MONGOSHOP_TRACE_DUMP)")
    parser.add_argument("svg", type=Path, help="where to write the picture")
    parser.add_argument("--title", default="POST /orders: one order's trace, API and worker")
    args = parser.parse_args()
    spans = json.loads(args.dump.read_text())
    args.svg.write_text(render(spans, args.title))
    print(f"{len(spans)} spans drawn in {args.svg}")


if __name__ == "__main__":
    main()
