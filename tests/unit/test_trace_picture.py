"""The docs' picture of a trace (`tools/trace_picture.py`): what it draws, and where."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from types import ModuleType
from typing import Any


def picture_tool() -> ModuleType:
    path = Path(__file__).resolve().parents[2] / "tools" / "trace_picture.py"
    spec = importlib.util.spec_from_file_location("trace_picture", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def span(
    span_id: str, parent_id: str, start_ms: float, end_ms: float, **extra: Any
) -> dict[str, Any]:
    return {
        "span_id": span_id,
        "parent_id": parent_id,
        "start_ns": int(start_ms * 1e6),
        "end_ns": int(end_ms * 1e6),
        "service": "mongoshop-api",
        "name": span_id,
        "attributes": {},
        **extra,
    }


TRACE = [
    span("mail", "event", 60, 70, service="mongoshop-worker"),
    span("request", "", 0, 20),
    span("event", "request", 50, 100, service="mongoshop-worker"),
    span(
        "find",
        "request",
        2,
        4,
        name="shop_4f2a.find",
        attributes={"db.name": "shop_4f2a", "db.mongodb.collection": "products", "x": "s3cret"},
    ),
    span("lost parent", "gone", 30, 31),
]


def test_rows_follow_the_tree_children_under_their_parent_by_start() -> None:
    tool = picture_tool()
    order = [(depth, s["span_id"]) for depth, s in tool.tree_order(TRACE)]
    assert order == [(0, "request"), (1, "find"), (1, "event"), (2, "mail"), (0, "lost parent")]


def test_bars_sit_on_one_time_axis_and_only_chosen_attributes_are_written() -> None:
    tool = picture_tool()
    svg = tool.render(TRACE, title="an <order>")
    bar = r'<rect x="([\d.]+)" y="[\d.]+" width="([\d.]+)" height="12" fill="(#\w+)"'
    bars = re.findall(bar, svg)
    by_row = dict(zip(["request", "find", "event", "mail", "lost parent"], bars, strict=True))
    left, scale = tool.LABELS, tool.BARS / 100  # the trace spans 0-100 ms
    assert float(by_row["event"][0]) == left + 50 * scale
    assert float(by_row["event"][1]) == 50 * scale
    assert float(by_row["find"][1]) == 2 * scale
    assert by_row["event"][2] == tool.COLOURS["mongoshop-worker"]
    assert by_row["request"][2] == tool.COLOURS["mongoshop-api"]
    assert ">find collection=products<" in svg
    assert "s3cret" not in svg
    assert "an &lt;order&gt;" in svg
    assert svg.startswith("<svg")
    assert svg.rstrip().endswith("</svg>")
