"""Lightning modules that fine-tune a causal LM on recommendation prompts: SFT, DPO and S-DPO.

* `LMPreferenceModule` composes a Hugging Face causal LM (plain, or wrapped by peft with LoRA
  adapters) with a loss of `recpref.losses.preference`: ``objective="sft"`` trains on
  `TokenBatch` rows (prompt + completion, `sft_loss`); ``"dpo"`` / ``"sdpo"`` train on
  `PreferenceBatch` rows (prompt + chosen, prompt + N rejected) against **precomputed reference
  log-probabilities** (`reference_logprobs`): the frozen reference is the model as it was when
  the preference step began, scored once in eval mode, so no second copy of the model is kept in
  memory (SPRec's reference is the post-SFT model, which is exactly that). ``"dpo"`` needs N = 1.
* `train_lm` runs one Lightning ``Trainer`` over a fixed list of batches (the caller shuffles
  them, seeded): AdamW on the trainable parameters, linear warm-up over ``warmup_steps``,
  gradient accumulation, bf16 mixed precision on CUDA (``precision="auto"``), a progress bar.
* `apply_lora`: peft LoRA adapters on every attention and MLP projection (SPRec: r 16, alpha 32,
  dropout 0.05).

The batches are frozen dataclasses moved to the device by `transfer_batch_to_device`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, get_args

import lightning as L
import torch
from torch import Tensor

from recpref.llm.batches import TokenBatch
from recpref.losses.preference import dpo_loss, sdpo_loss, sequence_logprob, sft_loss

__all__ = ["LMPreferenceModule", "LORA_TARGETS", "PreferenceBatch", "apply_lora", "reference_logprobs", "train_lm"]

Objective = Literal["sft", "dpo", "sdpo"]
OBJECTIVES: tuple[str, ...] = get_args(Objective)
LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


@dataclass(frozen=True)
class PreferenceBatch:
    """A preference `TokenBatch` (n_rejected = N) with the reference model's completion
    log-probabilities: ref_chosen (B,), ref_rejected (B, N)."""

    tokens: TokenBatch
    ref_chosen: Tensor
    ref_rejected: Tensor

    def to(self, device: torch.device | str) -> PreferenceBatch:
        return PreferenceBatch(self.tokens.to(device), self.ref_chosen.to(device), self.ref_rejected.to(device))


def _completion_logprobs(model: Any, tokens: TokenBatch) -> tuple[Tensor, Tensor]:
    """-> chosen (B,), rejected (B, N) completion log-probabilities under ``model``."""
    logits = model(input_ids=tokens.input_ids, attention_mask=tokens.attention_mask, use_cache=False).logits
    logps = sequence_logprob(logits, tokens.input_ids, tokens.completion_mask)
    b = tokens.n_prompts
    return logps[:b], logps[b:].view(tokens.n_rejected, b).T


@torch.no_grad()
def reference_logprobs(model: Any, batches: Sequence[TokenBatch], device: torch.device | str = "cpu") -> \
        list[PreferenceBatch]:
    """Score every preference batch once with ``model`` in eval mode (the frozen reference)."""
    was_training = model.training
    model.eval()
    out = []
    try:
        for tokens in batches:
            if tokens.n_rejected < 1:
                raise ValueError("a preference batch needs n_rejected >= 1 (collate_preference)")
            chosen, rejected = _completion_logprobs(model, tokens.to(device))
            out.append(PreferenceBatch(tokens, chosen.float().cpu(), rejected.float().cpu()))
    finally:
        model.train(was_training)
    return out


class LMPreferenceModule(L.LightningModule):
    """A causal LM + one objective (module docstring). ``lr`` / ``weight_decay`` for AdamW,
    ``warmup_steps`` optimizer steps of linear warm-up, ``beta`` for DPO / S-DPO."""

    def __init__(self, model: Any, objective: Objective = "sft", *, lr: float = 2e-5, weight_decay: float = 0.0,
                 warmup_steps: int = 0, beta: float = 0.1) -> None:
        super().__init__()
        if objective not in OBJECTIVES:
            raise ValueError(f"objective must be one of {', '.join(OBJECTIVES)}; got {objective!r}")
        if not (isinstance(lr, (int, float)) and lr > 0):
            raise ValueError(f"lr must be > 0; got {lr!r}")
        if not (isinstance(weight_decay, (int, float)) and weight_decay >= 0):
            raise ValueError(f"weight_decay must be >= 0; got {weight_decay!r}")
        if not isinstance(warmup_steps, int) or isinstance(warmup_steps, bool) or warmup_steps < 0:
            raise ValueError(f"warmup_steps must be an int >= 0; got {warmup_steps!r}")
        if not (isinstance(beta, (int, float)) and beta > 0):
            raise ValueError(f"beta must be > 0; got {beta!r}")
        self.model, self.objective = model, objective
        self.lr, self.weight_decay, self.warmup_steps, self.beta = float(lr), float(weight_decay), warmup_steps, beta

    def transfer_batch_to_device(self, batch: Any, device: torch.device, dataloader_idx: int) -> Any:
        return batch.to(device)

    def training_step(self, batch: TokenBatch | PreferenceBatch, batch_idx: int) -> Tensor:
        if self.objective == "sft":
            if not isinstance(batch, TokenBatch) or batch.n_rejected:
                raise TypeError("objective 'sft' trains on SFT TokenBatches (collate_sft)")
            logits = self.model(input_ids=batch.input_ids, attention_mask=batch.attention_mask, use_cache=False).logits
            loss = sft_loss(logits, batch.input_ids, batch.completion_mask)
            self.log("train/loss", loss, prog_bar=True, batch_size=batch.input_ids.shape[0])
            return loss
        if not isinstance(batch, PreferenceBatch):
            raise TypeError(f"objective {self.objective!r} trains on PreferenceBatches (reference_logprobs)")
        chosen, rejected = _completion_logprobs(self.model, batch.tokens)
        b = chosen.shape[0]
        if self.objective == "dpo":
            if rejected.shape[1] != 1:
                raise ValueError(f"objective 'dpo' takes one rejected completion per prompt; got {rejected.shape[1]} "
                                 "(use 'sdpo')")
            loss = dpo_loss(chosen, rejected[:, 0], batch.ref_chosen, batch.ref_rejected[:, 0], self.beta)
        else:
            loss = sdpo_loss(chosen, rejected, batch.ref_chosen, batch.ref_rejected, self.beta)
        with torch.no_grad():  # the implicit reward margin of each (chosen, rejected) pair
            margins = self.beta * ((chosen - batch.ref_chosen).unsqueeze(1) - (rejected - batch.ref_rejected))
        self.log("train/loss", loss, prog_bar=True, batch_size=b)
        self.log("train/margin", margins.mean(), batch_size=b)
        self.log("train/accuracy", (margins > 0).float().mean(), batch_size=b)
        return loss

    def configure_optimizers(self) -> Any:
        params = [p for p in self.model.parameters() if p.requires_grad]
        if not params:
            raise ValueError("the model has no trainable parameter")
        optimizer = torch.optim.AdamW(params, lr=self.lr, weight_decay=self.weight_decay)
        warm = self.warmup_steps
        schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: min(1.0, (step + 1) / warm) if warm else 1.0)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}


def train_lm(module: LMPreferenceModule, batches: Sequence[TokenBatch | PreferenceBatch], *, epochs: int = 1,
             accumulate: int = 1, accelerator: str = "auto", precision: str = "auto", progress: bool = True,
             seed: int = 0) -> LMPreferenceModule:
    """Train ``module`` on ``batches`` (in the given order, every epoch) with one Lightning Trainer."""
    if not batches:
        raise ValueError("no batches to train on")
    for name, value in (("epochs", epochs), ("accumulate", accumulate)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be an int >= 1; got {value!r}")
    if precision == "auto":
        on_gpu = accelerator in ("gpu", "cuda") or (accelerator == "auto" and torch.cuda.is_available())
        precision = "bf16-mixed" if on_gpu else "32-true"
    L.seed_everything(seed, workers=True, verbose=False)
    items: Any = list(batches)
    loader: Any = torch.utils.data.DataLoader(items, batch_size=None, shuffle=False, collate_fn=_identity)
    trainer = L.Trainer(max_epochs=epochs, accelerator=accelerator, devices=1, precision=precision,  # type: ignore[arg-type]
                        accumulate_grad_batches=accumulate, logger=False, enable_checkpointing=False,
                        enable_progress_bar=progress, enable_model_summary=False, num_sanity_val_steps=0)
    device = next(module.model.parameters()).device
    module.model.train()
    trainer.fit(module, train_dataloaders=loader)
    module.model.to(device)  # Lightning's teardown moves the module to the CPU; generation continues on ``device``
    module.model.eval()
    return module


def _identity(x: Any) -> Any:
    return x


def apply_lora(model: Any, *, r: int = 16, alpha: int = 32, dropout: float = 0.05,
               targets: Sequence[str] = LORA_TARGETS) -> Any:
    """``model`` wrapped by peft with LoRA adapters on ``targets`` (those present in the model)."""
    from peft import LoraConfig, get_peft_model

    if not isinstance(r, int) or r < 1:
        raise ValueError(f"r must be an int >= 1; got {r!r}")
    if not (0 <= dropout < 1):
        raise ValueError(f"dropout must be in [0, 1); got {dropout!r}")
    present = {name.rsplit(".", 1)[-1] for name, _ in model.named_modules()}
    chosen = [t for t in targets if t in present]
    if not chosen:
        raise ValueError(f"none of the LoRA targets {list(targets)} is a module of this model")
    config = LoraConfig(r=r, lora_alpha=alpha, lora_dropout=dropout, target_modules=chosen, task_type="CAUSAL_LM")
    return get_peft_model(model, config)
