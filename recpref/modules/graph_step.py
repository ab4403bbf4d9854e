"""One optimiser step (objective -> backward -> Adam) captured once as a CUDA graph and replayed
with each batch's indices copied into static buffers.

Why: a LightGCN step on Gowalla is ~20 small kernels whose launch cost dominates on an H100;
replaying a captured graph launches them as one. The eager and captured paths run the same
function, so the same seed gives the same batches and the same numbers up to float rounding
(tests/test_cuda.py checks it). Requirements, met by `PreferenceModule` when it enables this:
the step has no host synchronisation (index ranges are validated once per epoch by the batch
stream, not per step), fixed shapes (every step of an epoch has batch size B and K negatives),
and an optimiser built with ``capturable=True``.

On devices without CUDA graphs (CPU) `GraphStep` runs the step eagerly through the same static
buffers, which keeps that code path under test on every machine.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import torch

__all__ = ["GraphStep"]

StepFn = Callable[..., torch.Tensor]
"""``step_fn(*inputs) -> loss``: the index tensors of one step (e.g. users, pos, neg; or users,
pos, pool, mask for a shared negative pool)."""


class GraphStep:
    """``step(*inputs) -> loss`` (a scalar tensor; inputs such as users (B,), pos (B,), neg (B, K))
    replayed from a CUDA graph after ``warmup`` eager steps (run on a side stream, as CUDA graph
    capture requires). Every call must pass the same number of tensors with the same shapes.

    ``step_fn`` must compute the objective, call ``backward`` and step the optimiser with no host
    sync; ``zero_grad`` clears gradients to None before capture, so each replay writes them anew.
    If capture raises (an op that cannot be captured), it warns once and every later step runs
    eagerly: training goes on with the same updates.
    """

    def __init__(self, step_fn: StepFn, zero_grad: Callable[[], None], *, capture: bool, warmup: int = 3) -> None:
        if warmup < 1:
            raise ValueError(f"warmup must be >= 1 (Adam's state must exist before capture), got {warmup}")
        self.step_fn, self.zero_grad, self.capture, self.warmup = step_fn, zero_grad, capture, warmup
        self.graph: torch.cuda.CUDAGraph | None = None
        self.static: tuple[torch.Tensor, ...] | None = None
        self.static_loss: torch.Tensor | None = None
        self.steps = 0
        self.failed = False  # capture raised: every later step runs eagerly

    def _eager(self, *inputs: torch.Tensor) -> torch.Tensor:
        self.zero_grad()
        return self.step_fn(*inputs).detach()

    def __call__(self, *inputs: torch.Tensor) -> torch.Tensor:
        if self.static is not None and [x.shape for x in inputs] != [x.shape for x in self.static]:
            raise ValueError(f"a captured step needs fixed shapes: got {[tuple(x.shape) for x in inputs]}; "
                             f"captured {[tuple(x.shape) for x in self.static]}")
        users = inputs[0]
        if not self.capture:
            if self.static is None:
                self.static = tuple(x.clone() for x in inputs)
            for buf, new in zip(self.static, inputs):
                buf.copy_(new)
            self.steps += 1
            return self._eager(*self.static)
        if self.steps < self.warmup:  # real training steps, on a side stream as capture requires
            side = torch.cuda.Stream(device=users.device)
            side.wait_stream(torch.cuda.current_stream(users.device))
            with torch.cuda.stream(side):
                loss = self._eager(*inputs)
            torch.cuda.current_stream(users.device).wait_stream(side)
            self.steps += 1
            return loss
        if self.failed:
            self.steps += 1
            return self._eager(*inputs)
        if self.graph is None:
            self.static = tuple(x.clone() for x in inputs)
            self.zero_grad()
            graph = torch.cuda.CUDAGraph()
            try:
                with torch.cuda.graph(graph):
                    self.static_loss = self.step_fn(*self.static).detach()
            except RuntimeError as exc:  # an op that cannot be captured: keep training, eagerly
                warnings.warn(f"CUDA-graph capture of the training step failed ({str(exc).splitlines()[0]}); "
                              "continuing with eager steps (pass step_mode='eager' to skip the attempt)",
                              RuntimeWarning, stacklevel=2)
                self.failed, self.static, self.static_loss = True, None, None
                torch.cuda.synchronize(users.device)
                self.steps += 1
                return self._eager(*inputs)
            self.graph = graph
        else:
            assert self.static is not None
            for buf, new in zip(self.static, inputs):
                buf.copy_(new, non_blocking=True)
        self.graph.replay()  # capture records without running: the first replay is this step
        self.steps += 1
        assert self.static_loss is not None
        return self.static_loss.clone()
