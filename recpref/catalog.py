"""The public names of recpref's building blocks, in one place, importable without torch.

Every choice a user can make by name (model, loss, optimiser, sampler, engine, ...) is a
``Literal`` here. The implementations register under these names (`recpref.modules.objectives`,
`recpref.training`, `recpref.benchmarking.registry`; the LLM family, model ``llm``, trains with
`recpref.llm.sprec.run_sprec`, whose methods are its losses); the CLI's ``choices=``, the config
validation and the save format all read them from here, so a new name is added once. Tests check
that every name has an implementation and every implementation a name.
"""

from __future__ import annotations

import math
from typing import Any, Literal, get_args

InteractionModelName = Literal["mf", "lightgcn", "ngcf"]
SequenceModelName = Literal["mind", "comirec-dr", "comirec-sa", "mean", "sasrec", "hcn"]
LLMModelName = Literal["llm"]
ModelName = Literal["mf", "lightgcn", "ngcf", "mind", "comirec-dr", "comirec-sa", "mean", "sasrec", "hcn", "llm"]
PairwiseLossName = Literal["bpr", "bpo", "nbpo", "nbpo_exact", "ssm", "ccl", "directau"]
MNARLossName = Literal["naive", "relmf", "snips", "dr", "wmf", "ubpr"]
ALSLossName = Literal["als"]
SequenceLossName = Literal["ssm", "full"]
LLMLossName = Literal["sft", "dpo-random", "dpo-popular", "sdpo", "sprec"]  # recpref.llm.sprec's methods
LossName = Literal["bpr", "bpo", "nbpo", "nbpo_exact", "ssm", "ccl", "directau", "naive", "relmf", "snips", "dr", "wmf",
                   "ubpr", "als", "full", "sft", "dpo-random", "dpo-popular", "sdpo", "sprec"]
OptimizerName = Literal["adam", "sgd", "adagrad", "lazy_adam"]
LrScheduleName = Literal["constant", "linear"]
NegativeKind = Literal["uniform", "popularity"]
PositiveStream = Literal["interactions", "users", "shuffle"]
EngineName = Literal["auto", "lightning", "fused"]
MonitorName = Literal["recall", "ndcg", "f1"]
InitName = Literal["normal", "xavier"]
LocalLossName = Literal["log", "squared"]
PropensityKind = Literal["popularity", "given", "logistic"]
ProtocolName = Literal["random", "predefined"]

MODELS: tuple[str, ...] = get_args(ModelName)
INTERACTION_MODELS: tuple[str, ...] = get_args(InteractionModelName)
SEQUENCE_MODELS: tuple[str, ...] = get_args(SequenceModelName)
LLM_MODELS: tuple[str, ...] = get_args(LLMModelName)
PAIRWISE_LOSSES: tuple[str, ...] = get_args(PairwiseLossName)
MNAR_LOSSES: tuple[str, ...] = get_args(MNARLossName)
ALS_LOSSES: tuple[str, ...] = get_args(ALSLossName)
SEQUENCE_LOSSES: tuple[str, ...] = get_args(SequenceLossName)
LLM_LOSSES: tuple[str, ...] = get_args(LLMLossName)
LOSSES: tuple[str, ...] = get_args(LossName)
OPTIMIZERS: tuple[str, ...] = get_args(OptimizerName)
LR_SCHEDULES: tuple[str, ...] = get_args(LrScheduleName)
NEGATIVES: tuple[str, ...] = get_args(NegativeKind)
STREAMS: tuple[str, ...] = get_args(PositiveStream)
ENGINES: tuple[str, ...] = get_args(EngineName)
MONITORS: tuple[str, ...] = get_args(MonitorName)
INITS: tuple[str, ...] = get_args(InitName)
LOCAL_LOSSES: tuple[str, ...] = get_args(LocalLossName)
PROPENSITIES: tuple[str, ...] = get_args(PropensityKind)
PROTOCOLS: tuple[str, ...] = get_args(ProtocolName)

assert set(LOSSES) == set(PAIRWISE_LOSSES) | set(MNAR_LOSSES) | set(ALS_LOSSES) | set(SEQUENCE_LOSSES) | set(LLM_LOSSES)
assert set(MODELS) == set(INTERACTION_MODELS) | set(SEQUENCE_MODELS) | set(LLM_MODELS)


def check_choice(name: str, value: Any, choices: tuple[str, ...]) -> None:
    """Raise ``ValueError`` naming the setting and every valid choice unless ``value`` is one."""
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)}; got {value!r}")


def check_int(name: str, value: Any, minimum: int) -> None:
    """An integer (not a bool) >= ``minimum``, else ``ValueError`` naming the setting."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}; got {value!r}")


def check_float(name: str, value: Any, *, low: float, high: float = math.inf, low_open: bool = False,
                high_open: bool = False) -> None:
    """A finite real number in [low, high] (bounds opened on request), else ``ValueError``."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if ok:
        ok = (value > low if low_open else value >= low) and (value < high if high_open else value <= high)
    if not ok:
        lo, hi = ("(" if low_open else "[") + f"{low:g}", f"{high:g}" + (")" if high_open or high == math.inf else "]")
        raise ValueError(f"{name} must be a finite number in {lo}, {hi}; got {value!r}")
