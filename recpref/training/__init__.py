"""The training core: typed configs, the engine rule and `fit`, which every model family and
every caller (`Recommender`, benchmark runners, the CLI) trains through.

Importing this package is cheap (no torch, no Lightning): the heavy parts load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from recpref.training.config import MNARConfig, ModelConfig, PairwiseConfig, TrainConfig, flat_settings, settings_from_flat
from recpref.training.sequence_config import SequenceConfig, SequenceModelConfig

if TYPE_CHECKING:
    from recpref.training.core import FitResult, fit
    from recpref.training.engine import choose_engine

__all__ = ["FitResult", "MNARConfig", "ModelConfig", "PairwiseConfig", "SequenceConfig", "SequenceModelConfig",
           "TrainConfig", "choose_engine", "fit",
           "flat_settings", "settings_from_flat"]


def __getattr__(name: str) -> Any:
    if name in ("fit", "FitResult"):
        from recpref.training import core

        return getattr(core, name)
    if name == "choose_engine":
        from recpref.training.engine import choose_engine

        return choose_engine
    raise AttributeError(f"module 'recpref.training' has no attribute {name!r}")
