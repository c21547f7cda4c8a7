"""The summary table shared by the HTML and Markdown pages: grouped, named, rounded rows."""

from __future__ import annotations

from uqkit.report._definitions import GROUPS, decimals, direction, fmt_at, group, label, unit

__all__ = ["table_groups"]

_ARROWS = {-1: "↓", 1: "↑", 0: ""}


def _arrow(key: str) -> str:
    if key.startswith("coverage_"):
        return "→" + key.split("_", 1)[1] + "%"  # closest to nominal is best
    return _ARROWS[direction(key)]


def table_groups(report) -> list[tuple[str, list[dict]]]:
    """``[(group, [row, ...]), ...]`` in reading order.

    Each row: ``key``, ``name``, ``unit``, ``arrow`` and ``cells`` (one per model: ``text``, the
    value and its interval rounded to the decimals its interval width allows, and ``best``, True
    for the model that is best beyond noise).
    """
    grouped: dict[str, list[dict]] = {g: [] for g in (*GROUPS, "other")}
    for row in report._rows():
        halves = [0.5 * (hi - lo) for lo, hi in row.intervals]
        places = decimals(halves)
        cells = []
        for i, (value, (lo, hi)) in enumerate(zip(row.values, row.intervals)):
            text = fmt_at(value, places)
            if places is not None and text != "–" and lo == lo and hi == hi:
                text += f" [{fmt_at(lo, places)}, {fmt_at(hi, places)}]"
            cells.append({"text": text, "best": bool(row.clear and i == row.best)})
        units = unit(row.key)
        grouped[group(row.key)].append(
            {
                "key": row.key,
                "name": label(row.key),
                "unit": "" if units in ("", "share") else units,
                "arrow": _arrow(row.key),
                "cells": cells,
            }
        )
    return [(g, rows) for g, rows in grouped.items() if rows]
