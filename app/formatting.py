"""How the playground writes numbers for people (the browser writes them the same way:
static/js/lab-engine.js fmt)."""

from __future__ import annotations


def fmt(v: float) -> str:
    """Short and exact where it can be: 4, -0.5, 0.0625, 12.35."""
    v = float(v)
    if v == int(v) and abs(v) < 1e12:
        return str(int(v))
    return f"{v:.4g}" if abs(v) < 1 else f"{v:.2f}".rstrip("0").rstrip(".")
