"""What a full run keeps of a series for the runs after it: the recipe (the models that make
its forecast and their weights) and the band (each quantile's offset from the point
forecast per step, in units of the series' scale), as text for the ``model_state`` table.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

import numpy as np


def recipe_text(weights: dict[str, float]) -> str:
    """``lightgbm_global=0.620,moving_average=0.380`` (the weights text of ``model_runs``)."""
    return ",".join(f"{m}={w:.3f}" for m, w in sorted(weights.items()))


def recipe_of(chosen: str, members: Iterable[str] = ()) -> str:
    """The recipe of a chosen model, or of an ensemble's equally weighted ``members``."""
    members = list(members)
    return recipe_text({m: 1 / len(members) for m in members} if members else {chosen: 1.0})


def parse_recipe(text: str) -> dict[str, float]:
    """Model -> weight from :func:`recipe_text` (weights renormalised to sum to 1)."""
    pairs = [item.split("=", 1) for item in text.split(",") if "=" in item]
    weights = {m.strip(): float(w) for m, w in pairs}
    total = sum(weights.values())
    if not weights or total <= 0:
        raise ValueError(f"not a recipe: {text!r}")
    return {m: w / total for m, w in weights.items()}


def offsets_text(offsets: dict[float, np.ndarray], scale: float) -> str:
    """The band's offsets divided by the series' ``scale``, as JSON by quantile level."""
    return json.dumps(
        {
            f"{q:g}": np.round(np.nan_to_num(np.asarray(v, float)) / scale, 4).tolist()
            for q, v in offsets.items()
        }
    )


def parse_offsets(text: str, scale: float, horizon: int) -> dict[float, np.ndarray]:
    """Offsets in demand units for ``horizon`` steps from :func:`offsets_text`; a longer
    horizon than the stored one repeats the last step's offset."""
    out = {}
    for q, values in json.loads(text).items():
        v = np.asarray(values, float) * scale
        out[float(q)] = np.concatenate([v, np.repeat(v[-1:], max(horizon - len(v), 0))])[:horizon]
    return out
