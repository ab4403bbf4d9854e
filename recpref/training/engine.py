"""The one rule that picks the engine of a pairwise fit (fused numba CPU kernel or Lightning)."""

from __future__ import annotations

from typing import Literal

from recpref.training.config import ALSConfig, ModelConfig, PairwiseConfig, TrainConfig

Engine = Literal["fused", "lightning", "implicit-als"]


def on_cpu(accelerator: str) -> bool:
    """Whether Lightning's ``accelerator`` setting trains on the CPU (``auto`` takes a visible GPU)."""
    if accelerator == "cpu":
        return True
    if accelerator != "auto":
        return False
    import torch

    return not torch.cuda.is_available()


def choose_engine(model: ModelConfig, train: TrainConfig, *, accelerator: str = "auto",
                  devices: int | str = "auto") -> Engine:
    """``engine="fused"`` or ``"auto"`` with MF, BPR/BPO, Adam, one CPU device -> the fused
    kernel (same batches and updates as Lightning, several times faster); everything else,
    and anything on a GPU or several devices, -> Lightning; ``als`` -> implicit's ALS solver. An explicit ``"fused"`` that cannot
    apply raises ``ValueError`` saying why."""
    if isinstance(train, ALSConfig):
        return "implicit-als"
    if not isinstance(train, PairwiseConfig):
        return "lightning"
    capable = model.model == "mf" and train.fused_capable
    single_cpu = on_cpu(accelerator) and devices in ("auto", 1)
    if train.engine == "fused":
        if not capable:
            raise ValueError(f"engine 'fused' trains model mf only, got model {model.model!r}; use engine 'lightning'")
        if not single_cpu:
            raise ValueError(f"engine 'fused' runs on one CPU; got accelerator {accelerator!r}, devices {devices!r}; "
                             "pass accelerator='cpu' or engine 'lightning'")
        return "fused"
    return "fused" if train.engine == "auto" and capable and single_cpu else "lightning"
