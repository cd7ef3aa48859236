"""The focal search of both trackers: the original's grid scaled to the frame, widened until the best focal
lies strictly inside the searched range.

The original searched 600..1400 px in steps of 100 for 450 px frames (Obama). A focal in pixels grows with
the frame size for the same lens, and a telephoto lens needs more: on a 256 px studio clip the old grid's
best was its top end, 1400, and every pose was then fit with the wrong perspective, silently. Here the grid
is scaled by size / 450 (size = the larger side of the frame), and while the best focal is at an end of the
searched range the search continues past that end, ``EXTEND`` steps the first time and twice as many each
time after (a telephoto focal several times the grid's top is reached in a few rounds), at most
``MAX_ROUNDS`` times.
"""
from __future__ import annotations

from typing import Callable

BASE_GRID = tuple(range(600, 1401, 100))   # the original's, for 450 px frames
BASE_SIZE = 450.0
EXTEND = 4          # grid steps added past an end in the first round, doubled in each further round
MAX_ROUNDS = 5      # up to 4 + 8 + 16 + 32 + 64 = 124 more steps: 600..13800 px at 450 px


def scaled_grid(image_size: tuple[int, int]) -> list[float]:
    scale = max(image_size) / BASE_SIZE
    return [round(f * scale, 3) for f in BASE_GRID]


def widening_search(evaluate: Callable[[list[float]], dict[float, float]], image_size: tuple[int, int],
                    grid: list[float] | None = None) -> tuple[float, dict[float, float], dict]:
    """Minimise ``evaluate`` (focals -> {focal: error}) over the scaled grid, widening it past whichever end
    holds the best focal. Returns (best focal, {focal: error} of every focal tried, a record for
    preprocess.json: searched range, step, scale, rounds of widening, whether the best lies inside)."""
    grid = sorted(grid or scaled_grid(image_size))
    step = grid[1] - grid[0] if len(grid) > 1 else grid[0] / 6
    errors = dict(evaluate(grid))
    rounds = 0
    while True:
        best = min(errors, key=errors.get)
        lo, hi = min(errors), max(errors)
        inside = lo < best < hi
        if inside or rounds == MAX_ROUNDS:
            break
        n = EXTEND * 2 ** rounds
        if best == lo:
            more = [round(lo - k * step, 3) for k in range(1, n + 1) if lo - k * step >= step / 2]
        else:
            more = [round(hi + k * step, 3) for k in range(1, n + 1)]
        if not more:       # the lower end reached (almost) zero: nothing smaller to try
            break
        errors.update(evaluate(more))
        rounds += 1
    record = {"searched_px": [min(errors), max(errors)], "step_px": round(step, 3),
              "scale": round(max(image_size) / BASE_SIZE, 4), "widened": rounds, "best_px": best,
              "inside": inside}
    return best, errors, record


def describe(record: dict) -> str:
    """One console line about the search, e.g. 'focal 1100 px, best inside the searched 600..1400 px'."""
    lo, hi = record["searched_px"]
    text = (f"focal {record['best_px']:.0f} px, searched {lo:.0f}..{hi:.0f} px in steps of {record['step_px']:.0f} "
            f"(the original's 600..1400 x {record['scale']:g} for this frame size")
    text += f", widened {record['widened']} time(s))" if record["widened"] else ")"
    if not record["inside"]:
        text += "; the best focal is still at the end of the range: poses may have the wrong perspective"
    return text
