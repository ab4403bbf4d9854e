"""SPRec (self-play DPO) and its baselines on a causal LM: SFT, DPO with random or popular
negatives, S-DPO with N negatives — one runner, the same prompts, the same evaluation.

Methods (``method``):

* ``sft``: stage 0 only — LoRA SFT of the base model on ``sft0_prompts`` training prompts for
  ``sft0_epochs`` epochs (BIGRec style).
* ``dpo-random`` / ``dpo-popular`` / ``sdpo``: stage 0, then for each iteration an SFT epoch on
  the sampled positives and a DPO (S-DPO with ``n_negatives`` for ``sdpo``) epoch whose rejected
  items are drawn uniformly (or by training popularity) from the catalogue, never the target.
* ``sprec``: stage 0, then for t = 1..T: sample prompts; generate greedily with pi_(t-1); ground the
  generation to a catalogue item (``rejected_from``: ``embedding`` = SPRec's nearest MiniLM title
  of the first quoted string, ``trie`` = constrained greedy decoding over the catalogue titles);
  rejected = that prediction, chosen = the ground truth; pairs with rejected == chosen (void) and
  generations without a usable title are dropped and counted; SFT for an epoch on the positives
  -> pi'_t; DPO from pi'_t as the frozen reference -> pi_t.

Every iteration evaluates pi'_t and pi_t (and stage 0 its result) on the evaluation prompts with
both groundings: constrained beam search over the catalogue trie (``num_beams`` beams = the
top-K) and nearest MiniLM titles of the free greedy generation (``embedding``), scored by
`recpref.evaluation.evaluate_ranked_lists` (HR / NDCG / DivRatio / ORRatio / MGU / DGU /
popularity; unparseable generations are misses and are counted).

Resumable: after each stage the LoRA adapter (safetensors, peft's ``save_pretrained``) and
``state.json`` (stage reached, reports, metrics) are written under ``out_dir``; a new `run_sprec`
on the same ``out_dir`` with the same settings loads them and continues from the next stage. A
different setting in ``out_dir`` is an error that names it.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

import numpy as np
import torch

from recpref.evaluation.ranked_lists import RankedListResult, evaluate_ranked_lists
from recpref.llm.batches import TokenBatch, collate_preference, collate_sft, encode_completions, encode_prompts
from recpref.llm.grounding import (
    EmbeddingGrounder,
    TitleTrie,
    constrained_beam_search,
    first_title,
    generate_texts,
)
from recpref.llm.prompts import ItemCatalog, NextItemExample, PromptSet, render_prompts, sprec_completion

__all__ = ["METHODS", "STAGE0_SETTINGS", "SPRecConfig", "SPRecResult", "run_sprec", "self_play_rejected"]

Method = Literal["sft", "dpo-random", "dpo-popular", "sdpo", "sprec"]
METHODS: tuple[str, ...] = get_args(Method)
RejectedFrom = Literal["embedding", "trie"]
Grounding = Literal["beam", "embedding"]


@dataclass(frozen=True)
class SPRecConfig:
    """Settings of `run_sprec` (SPRec's script values in brackets; the defaults are CPU-sized)."""

    method: Method = "sprec"
    iterations: int = 1  # T [5]
    sft0_prompts: int = 256  # stage-0 SFT prompts [4096]
    sft0_epochs: int = 1  # [4]
    sft0_lr: float = 3e-4  # [3e-4]
    iteration_prompts: int = 128  # prompts sampled per iteration [2048]
    sft_lr: float = 2e-5  # [2e-5]
    dpo_lr: float = 2e-5  # [2e-5]
    warmup_steps: int = 20  # DPO warm-up optimizer steps [20]
    beta: float = 0.1  # [0.1]
    n_negatives: int = 1  # S-DPO's N (sdpo only)
    rejected_from: RejectedFrom = "embedding"
    batch_size: int = 4  # [4 SFT / 2 DPO per device]
    accumulate: int = 1  # gradient accumulation [4]
    lora_r: int = 16  # [16]; 0 = full fine-tuning
    lora_alpha: int = 32  # [32]
    lora_dropout: float = 0.05  # [0.05]
    max_history: int = 10
    max_prompt_tokens: int = 512  # [cutoff 512]
    max_new_tokens: int = 64
    num_beams: int = 10
    k: tuple[int, ...] = (1, 5, 10)
    eval_prompts: int | None = None  # None = every evaluation example
    groundings: tuple[Grounding, ...] = ("beam", "embedding")
    seed: int = 0

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {', '.join(METHODS)}; got {self.method!r}")
        if self.rejected_from not in get_args(RejectedFrom):
            raise ValueError(f"rejected_from must be one of {', '.join(get_args(RejectedFrom))}; got "
                             f"{self.rejected_from!r}")
        for name in ("iterations", "sft0_epochs", "batch_size", "accumulate", "n_negatives", "max_history",
                     "max_prompt_tokens", "max_new_tokens", "num_beams"):
            _check_int(name, getattr(self, name), 1)
        for name in ("sft0_prompts", "iteration_prompts", "warmup_steps", "lora_r", "seed"):
            _check_int(name, getattr(self, name), 0)
        if self.eval_prompts is not None:
            _check_int("eval_prompts", self.eval_prompts, 1)
        for name in ("sft0_lr", "sft_lr", "dpo_lr", "beta"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and np.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a finite number > 0; got {value!r}")
        if not 0 <= self.lora_dropout < 1:
            raise ValueError(f"lora_dropout must be in [0, 1); got {self.lora_dropout!r}")
        if not self.k or any(not isinstance(x, int) or x < 1 or x > self.num_beams for x in self.k):
            raise ValueError(f"k must be integers in [1, num_beams={self.num_beams}]; got {self.k!r}")
        if not self.groundings or any(g not in get_args(Grounding) for g in self.groundings):
            raise ValueError(f"groundings must be a non-empty subset of {get_args(Grounding)}; got {self.groundings!r}")
        if self.method == "sdpo" and self.n_negatives < 2:
            raise ValueError("method 'sdpo' needs n_negatives >= 2 (with 1 it is 'dpo-random')")
        if self.method != "sdpo" and self.n_negatives != 1:
            raise ValueError(f"n_negatives applies to method 'sdpo' only; got {self.n_negatives} with "
                             f"{self.method!r}")
        if self.method == "sft" and self.sft0_prompts == 0:
            raise ValueError("method 'sft' with sft0_prompts 0 trains nothing")


def _check_int(name: str, value: Any, low: int) -> int:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}; got {value!r}")
    return int(value)


@dataclass
class SPRecResult:
    """What `run_sprec` measured: ``evaluations`` (one dict per evaluated model: stage, method,
    grounding, metrics), per-iteration ``reports`` (pairs kept, void pairs, unparseable
    generations, seconds, tokens/s) and the directory with the adapter and state."""

    out_dir: Path
    evaluations: list[dict[str, Any]] = field(default_factory=list)
    reports: list[dict[str, Any]] = field(default_factory=list)


class _Run:
    """The model, tokenizer, data and helpers one `run_sprec` shares across its stages."""

    def __init__(self, model: Any, tokenizer: Any, catalog: ItemCatalog, config: SPRecConfig, *, style: str,
                 noun: str, popularity: np.ndarray, accelerator: str, progress: bool,
                 grounder: EmbeddingGrounder | None) -> None:
        self.model, self.tokenizer, self.catalog, self.config = model, tokenizer, catalog, config
        self.style, self.noun, self.popularity = style, noun, popularity
        self.accelerator, self.progress = accelerator, progress
        self.device = next(model.parameters()).device
        self.trie = TitleTrie(tokenizer, catalog.titles)
        self._grounder = grounder
        self.pad_id = tokenizer.pad_token_id

    @property
    def grounder(self) -> EmbeddingGrounder:
        if self._grounder is None:
            self._grounder = EmbeddingGrounder(self.catalog.titles)
        return self._grounder

    def render(self, examples: Sequence[NextItemExample]) -> PromptSet:
        return render_prompts(examples, self.catalog, style=self.style,  # type: ignore[arg-type]
                              tokenizer=self.tokenizer, max_history=self.config.max_history,
                              max_prompt_tokens=self.config.max_prompt_tokens, noun=self.noun)

    def sft_batches(self, prompts: PromptSet, rng: np.random.Generator) -> list[TokenBatch]:
        order = rng.permutation(len(prompts))
        p = encode_prompts(self.tokenizer, [prompts.prompts[i] for i in order])
        c = encode_completions(self.tokenizer, [prompts.completions[i] for i in order])
        bs = self.config.batch_size
        return [collate_sft(p[i:i + bs], c[i:i + bs], self.pad_id) for i in range(0, len(p), bs)]

    def preference_batches(self, prompts: PromptSet, rejected: list[list[int]],
                           rng: np.random.Generator) -> list[TokenBatch]:
        order = rng.permutation(len(prompts))
        p = encode_prompts(self.tokenizer, [prompts.prompts[i] for i in order])
        c = encode_completions(self.tokenizer, [prompts.completions[i] for i in order])
        r = [encode_completions(self.tokenizer, [sprec_completion(self.catalog.titles[j]) for j in rejected[i]])
             for i in order]
        bs = self.config.batch_size
        return [collate_preference(p[i:i + bs], c[i:i + bs], r[i:i + bs], self.pad_id) for i in range(0, len(p), bs)]

    def train(self, objective: str, batches: list[Any], lr: float, epochs: int = 1, warmup: int = 0) -> float:
        from recpref.modules.llm import LMPreferenceModule, train_lm

        start = time.perf_counter()
        module = LMPreferenceModule(self.model, objective, lr=lr, warmup_steps=warmup,  # type: ignore[arg-type]
                                    beta=self.config.beta)
        train_lm(module, batches, epochs=epochs, accumulate=self.config.accumulate, accelerator=self.accelerator,
                 progress=self.progress, seed=self.config.seed)
        return time.perf_counter() - start


def _tokens(batches: Sequence[Any]) -> int:
    return int(sum(int((b.tokens if hasattr(b, "tokens") else b).attention_mask.sum()) for b in batches))


def self_play_rejected(model: Any, tokenizer: Any, prompts: Sequence[str], trie: TitleTrie,
                       grounder: Callable[[], EmbeddingGrounder], *, rejected_from: RejectedFrom = "embedding",
                       max_new_tokens: int = 64, batch_size: int = 8) -> tuple[np.ndarray, list[str | None]]:
    """The model's own prediction for each prompt -> (items (n,) with -1 where the generation had
    no usable title, generated texts (None for ``trie``)). ``embedding``: greedy generation, first
    quoted title, nearest catalogue title (SPRec); ``trie``: constrained greedy decoding."""
    if rejected_from == "trie":
        items = constrained_beam_search(model, tokenizer, list(prompts), trie, num_beams=1, batch_size=batch_size)
        return items[:, 0], [None] * len(prompts)
    texts = generate_texts(model, tokenizer, list(prompts), max_new_tokens=max_new_tokens, batch_size=batch_size)
    titles = [first_title(t) for t in texts]
    items = grounder().rank(titles, 1)[:, 0]
    return items, list(texts)


def _negatives(rng: np.random.Generator, targets: np.ndarray, n: int, n_items: int,
               weights: np.ndarray | None) -> list[list[int]]:
    """``n`` distinct items per row, never the row's target, uniform or by ``weights``."""
    p = None if weights is None else weights / weights.sum()
    out = []
    for t in targets:
        picks: list[int] = []
        while len(picks) < n:
            j = int(rng.choice(n_items, p=p))
            if j != t and j not in picks:
                picks.append(j)
        out.append(picks)
    return out


def run_sprec(model: Any, tokenizer: Any, catalog: ItemCatalog, train: Sequence[NextItemExample],
              evaluation: Sequence[NextItemExample], config: SPRecConfig, out_dir: str | Path, *,
              style: Literal["alpaca", "chat"] = "alpaca", noun: str = "item", accelerator: str = "auto",
              progress: bool = True, grounder: EmbeddingGrounder | None = None,
              stage0_from: str | Path | None = None, log: Callable[[str], None] = print) -> SPRecResult:
    """Run ``config.method`` (module docstring) on ``model`` (a Hugging Face causal LM, LoRA
    adapters added here unless ``config.lora_r == 0``) -> `SPRecResult`. ``train`` gives the
    training prompts (sampled, seeded), ``evaluation`` the prompts every stage is scored on.
    ``out_dir`` holds the adapter and the state (resumable, module docstring). ``stage0_from``:
    the directory of another run (any method) whose stage 0 had the same stage-0 and evaluation
    settings (`STAGE0_SETTINGS`; checked): its stage-0 weights, report and evaluation are taken
    instead of training stage 0 again, so the methods of one comparison share one SFT model."""
    from recpref.modules.llm import apply_lora, reference_logprobs

    if not train or not evaluation:
        raise ValueError(f"train ({len(train)}) and evaluation ({len(evaluation)}) both need examples")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    settings = {k: (list(v) if isinstance(v, tuple) else v) for k, v in dataclasses.asdict(config).items()}
    settings.update(style=style, noun=noun, n_items=len(catalog))
    state_path = out / "state.json"
    state: dict[str, Any] = {"settings": settings, "done": [], "evaluations": [], "reports": []}
    if state_path.is_file():
        try:
            saved = json.loads(state_path.read_text())
        except json.JSONDecodeError as exc:
            raise ValueError(f"{state_path} is corrupted ({exc}); delete it to start over") from exc
        diff = sorted(k for k in set(settings) | set(saved.get("settings", {}))
                      if settings.get(k) != saved.get("settings", {}).get(k))
        if diff:
            raise ValueError(f"{out} holds a run with other settings ({', '.join(diff)}); use another out_dir")
        state = saved
    if stage0_from is not None and not state["done"]:
        state = _take_stage0(Path(stage0_from), out, state)
    if config.lora_r:
        model = apply_lora(model, r=config.lora_r, alpha=config.lora_alpha, dropout=config.lora_dropout)
    if state["done"]:
        _load_weights(model, out)
        log(f"resuming {out}: done {', '.join(state['done'])}")
    pop = np.bincount([ex.target for ex in train], minlength=len(catalog)).astype(np.float64)
    for ex in train:
        pop[list(ex.history)] += 1
    run = _Run(model, tokenizer, catalog, config, style=style, noun=noun, popularity=pop, accelerator=accelerator,
               progress=progress, grounder=grounder)
    eval_examples = list(evaluation)
    if config.eval_prompts is not None and config.eval_prompts < len(eval_examples):
        pick = np.random.default_rng(config.seed + 10_000).choice(len(eval_examples), config.eval_prompts, replace=False)
        eval_examples = [eval_examples[i] for i in sorted(pick)]
    eval_prompts = run.render(eval_examples)
    log(f"evaluation: {eval_prompts.summary()}")

    def checkpoint(stage: str) -> None:
        _save_weights(model, out)
        state["done"].append(stage)
        tmp = state_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=1))
        tmp.replace(state_path)

    def evaluate(stage: str) -> None:
        for g in config.groundings:
            res = _evaluate(run, eval_prompts, g)
            row = {"stage": stage, "method": config.method, "grounding": g, "n_rows": res.n_rows,
                   "n_unparseable": res.n_unparseable, **res.metrics}
            state["evaluations"].append(row)
            log(f"  {stage} [{g}]: " + " ".join(f"{m} {res.metrics[m]:.4f}" for m in res.metrics
                                                if m.split("@")[0] in ("hit", "ndcg", "div_ratio", "or_ratio")))

    rng_base = config.seed
    if "sft0" not in state["done"]:
        rng = np.random.default_rng(rng_base)
        picks = rng.choice(len(train), min(config.sft0_prompts, len(train)), replace=False)
        prompts = run.render([train[i] for i in picks])
        log(f"stage 0 SFT: {prompts.summary()}")
        batches = run.sft_batches(prompts, rng)
        secs = run.train("sft", batches, config.sft0_lr, epochs=config.sft0_epochs) if batches else 0.0
        state["reports"].append({"stage": "sft0", "prompts": len(prompts), "seconds": secs,
                                 "train_tokens_per_s": _tokens(batches) * config.sft0_epochs / secs if secs else None,
                                 **dataclasses.asdict(prompts.truncation)})
        evaluate("sft0")
        checkpoint("sft0")
    if config.method == "sft":
        return SPRecResult(out, state["evaluations"], state["reports"])
    for t in range(1, config.iterations + 1):
        if f"dpo{t}" in state["done"]:
            continue
        rng = np.random.default_rng([rng_base, t])
        picks = rng.choice(len(train), min(config.iteration_prompts, len(train)), replace=False)
        examples = [train[i] for i in picks]
        prompts = run.render(examples)
        targets = np.array([ex.target for ex in examples])
        pending = state.setdefault("pending", {}).get(str(t))
        if pending is not None:  # resumed after this iteration's SFT: the pairs drawn from pi_(t-1) before it
            report: dict[str, Any] = pending["report"]
            keep, rejected = np.array(pending["keep"], dtype=bool), pending["rejected"]
        else:
            report = {"stage": f"iteration {t}", "prompts": len(prompts)}
            keep, rejected = _draw_rejected(run, prompts, targets, rng, report)
            state["pending"][str(t)] = {"report": report, "keep": keep.tolist(), "rejected": rejected}
        kept = PromptSet(prompts.style, [p for p, k in zip(prompts.prompts, keep) if k],
                         [c for c, k in zip(prompts.completions, keep) if k],
                         [e for e, k in zip(prompts.examples, keep) if k],
                         [h for h, k in zip(prompts.histories, keep) if k], prompts.truncation)
        report["pairs"] = len(kept)
        log(f"iteration {t}: {len(kept)} pairs of {len(prompts)} prompts" +
            (f" ({report['void_pairs']} void, {report['unparseable']} unparseable dropped)"
             if config.method == "sprec" else ""))
        if f"sft{t}" not in state["done"]:
            batches = run.sft_batches(prompts, np.random.default_rng([rng_base, t, 1]))  # every positive, as SPRec
            secs = run.train("sft", batches, config.sft_lr)
            report.update(sft_seconds=secs, sft_tokens_per_s=_tokens(batches) / secs if secs else None)
            evaluate(f"sft{t}")
            checkpoint(f"sft{t}")
        if len(kept):
            objective = "sdpo" if config.method == "sdpo" else "dpo"
            order = np.random.default_rng([rng_base, t, 2])  # its own stream: a resumed run draws the same
            pairs = reference_logprobs(model, run.preference_batches(kept, rejected, order), run.device)
            secs = run.train(objective, pairs, config.dpo_lr, warmup=config.warmup_steps)
            report.update(dpo_seconds=secs, dpo_tokens_per_s=_tokens(pairs) / secs if secs else None)
        else:
            report["dpo_seconds"] = 0.0
            log(f"iteration {t}: no preference pair left; DPO skipped")
        state["reports"].append(report)
        del state["pending"][str(t)]
        evaluate(f"dpo{t}")
        checkpoint(f"dpo{t}")
    return SPRecResult(out, state["evaluations"], state["reports"])


STAGE0_SETTINGS = ("sft0_prompts", "sft0_epochs", "sft0_lr", "batch_size", "accumulate", "lora_r", "lora_alpha",
                   "lora_dropout", "max_history", "max_prompt_tokens", "max_new_tokens", "num_beams", "k",
                   "eval_prompts", "groundings", "seed", "style", "noun", "n_items")
"""The settings that decide stage 0 and its evaluation (what ``stage0_from`` checks)."""


def _take_stage0(source: Path, out: Path, state: dict[str, Any]) -> dict[str, Any]:
    """``state`` with the stage 0 of the run in ``source`` (weights copied into ``out``)."""
    import shutil

    try:
        other = json.loads((source / "state.json").read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"stage0_from={str(source)!r}: no readable state.json ({exc})") from exc
    if "sft0" not in other.get("done", []):
        raise ValueError(f"stage0_from={str(source)!r}: that run has not finished stage 0")
    mine, theirs = state["settings"], other.get("settings", {})
    diff = [k for k in STAGE0_SETTINGS if mine.get(k) != theirs.get(k)]
    if diff:
        raise ValueError(f"stage0_from={str(source)!r}: its stage 0 used other settings ({', '.join(diff)})")
    if other["done"] != ["sft0"] and other["settings"].get("method") != "sft":
        raise ValueError(f"stage0_from={str(source)!r}: its weights are past stage 0 ({other['done'][-1]}); "
                         "take stage 0 from an 'sft' run")
    shutil.copyfile(source / "trainable.safetensors", out / "trainable.safetensors")
    state = {**state, "done": ["sft0"],
             "evaluations": [{**e, "method": mine["method"]} for e in other["evaluations"] if e["stage"] == "sft0"],
             "reports": [r for r in other["reports"] if r.get("stage") == "sft0"],
             "stage0_from": str(source)}
    (out / "state.json").write_text(json.dumps(state, indent=1))
    return state


def _draw_rejected(run: _Run, prompts: PromptSet, targets: np.ndarray, rng: np.random.Generator,
                   report: dict[str, Any]) -> tuple[np.ndarray, list[list[int]]]:
    """-> (keep (n,) bool, rejected items of the kept prompts): the model's own grounded predictions
    (sprec; void pairs and unparseable generations dropped and counted in ``report``) or sampled
    negatives (the baselines; every prompt kept)."""
    cfg = run.config
    if cfg.method != "sprec":
        weights = run.popularity if cfg.method == "dpo-popular" else None
        return np.ones(len(targets), dtype=bool), _negatives(rng, targets, cfg.n_negatives, len(run.catalog), weights)
    start = time.perf_counter()
    predicted, _ = self_play_rejected(run.model, run.tokenizer, prompts.prompts, run.trie, lambda: run.grounder,
                                      rejected_from=cfg.rejected_from, max_new_tokens=cfg.max_new_tokens,
                                      batch_size=cfg.batch_size)
    unparseable = predicted < 0
    void = (predicted == targets) & ~unparseable
    keep = ~(unparseable | void)
    report.update(unparseable=int(unparseable.sum()), void_pairs=int(void.sum()),
                  generation_seconds=time.perf_counter() - start)
    return keep, [[int(j)] for j in predicted[keep]]


def _evaluate(run: _Run, prompts: PromptSet, grounding: Grounding) -> RankedListResult:
    cfg = run.config
    k_max = max(cfg.k)
    if grounding == "beam":
        ranked = constrained_beam_search(run.model, run.tokenizer, prompts.prompts, run.trie, num_beams=cfg.num_beams,
                                         top_k=k_max, batch_size=cfg.batch_size)
    else:
        texts = generate_texts(run.model, run.tokenizer, prompts.prompts, max_new_tokens=cfg.max_new_tokens,
                               batch_size=cfg.batch_size)
        ranked = run.grounder.rank([first_title(t) for t in texts], k_max)
    genres = run.catalog.genres
    return evaluate_ranked_lists(
        ranked, np.array([ex.target for ex in prompts.examples]), n_items=len(run.catalog), k=cfg.k,
        item_genres=genres if genres is not None else None,
        n_genres=len(run.catalog.genre_names) if genres is not None and run.catalog.genre_names else None,
        history_items=[list(h) for h in prompts.histories] if genres is not None else None,
        popularity=run.popularity)


def _trainable_state(model: Any) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().contiguous() for k, v in model.named_parameters() if v.requires_grad}


def _save_weights(model: Any, out: Path) -> None:
    from safetensors.torch import save_file

    tmp = out / "trainable.safetensors.tmp"
    save_file(_trainable_state(model), str(tmp))
    tmp.replace(out / "trainable.safetensors")


def _load_weights(model: Any, out: Path) -> None:
    from safetensors.torch import load_file

    path = out / "trainable.safetensors"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: the run in {out} cannot resume")
    saved = load_file(str(path))
    own = dict(model.named_parameters())
    missing = sorted(set(k for k, v in own.items() if v.requires_grad) - set(saved))
    if missing or any(k not in own for k in saved):
        raise ValueError(f"{path} does not match this model's trainable parameters (e.g. "
                         f"{(missing or sorted(set(saved) - set(own)))[0]})")
    with torch.no_grad():
        for k, v in saved.items():
            own[k].copy_(v)
