"""torch-rechub 0.9.0's MIND, ComiRec-SA and ComiRec-DR as runners of the sequence harness.

torch-rechub builds, trains and embeds; recpref only feeds it and reads its vectors out.
``torch_rechub`` is imported lazily, inside `fit` / `warmup` / `build_examples` only.

**Training examples** (their ``utils.match.generate_seq_feature_match`` + ``gen_model_input``,
list-wise ``mode=2``): every prefix of a user's time-ordered sequence -> the next item, i.e. for
sequence s the samples (s[:i] -> s[i]) for i = 1 .. len(s) - 1, each with ``neg_ratio`` negatives
drawn up front by their ``negative_sample`` (``sample_method`` 1 = popularity count^0.75, the
target itself not excluded), histories padded / truncated to ``max_len`` by their
``pad_sequences`` with pad id 0. Their function keeps each user's *last* prefix as a test sample;
here the sequences are already ``split.train`` (validation and test targets removed by the
split), so every prefix of them is a training sample and nothing held out is ever seen. Item
ids: torch-rechub id = recpref item index + 1 (0 = padding, as their LabelEncoder + 1 examples);
score column j is their item j + 1. Their models need at least one user feature and the harness
scores histories, not user ids, so the user feature is one constant id (vocabulary 1): a learned
bias added to every interest before their projection.

**Training**: their ``MatchTrainer(mode=2)`` (softmax cross-entropy over [positive, negatives],
Adam with ``lr`` / ``weight_decay``), ``epochs`` passes of their ``MatchDataGenerator`` loader
(shuffled, ``batch_size``). No early stopping: their trainer validates by AUC, which list-wise
outputs do not support, and their examples train a fixed number of epochs; ``valid`` is ignored.
``epoch_seconds`` times each call of their ``MatchTrainer.train_one_epoch`` (loader and
optimiser steps; their end-of-fit checkpoint write, into a temporary folder, is outside).

**Scoring**: their user tower (``model.mode = "user"``: K L2-normalised interest vectors) and item
tower (``mode = "item"``: L2-normalised item embeddings); score(i) = max_k v_k . e_i. Their own
serving (examples/matching/movielens_utils.py ``match_evaluation``) queries an Annoy angular
index with each interest, merges the K lists and keeps each item's smallest distance: on unit
vectors the same order as max_k cosine, here computed exactly over the whole catalogue.

**Presets** (`PRESETS`): ``defaults`` = examples/matching/run_ml_mind.py and run_ml_comirec.py
(datawhalechina/torch-rechub, commit 1429deb): embed_dim 16, seq_max_len 50, padding and
truncating 'post' (the *first* 50 items of a history are kept), sample_method 1, neg_ratio 3,
10 epochs, batch 256, lr 1e-3, weight_decay 1e-6, temperature 0.02, interest_num 4 (the
model's default), MIND ``dynamic_interest`` off (the model's default). ``fair`` = recpref's
sequence setting (benchmarks/amazon_sequences.py): dim 64, K 4, history 50 (the *last* 50 items:
truncating 'pre', padding 'post' = ComiRec's layout), batch 512; pass the recpref row's epochs.
Any of dim, n_interests, max_len, epochs, batch_size, lr, weight_decay, neg_ratio overrides.

Known properties of torch-rechub 0.9.0 kept as they are (methods.md 3.3b): ``temperature`` is
stored but never applied (logits are cosines in [-1, 1]); ComiRec-SA has no positional
embeddings; MIND's K is fixed unless ``dynamic_interest=True`` (then inactive interests are
left out of the max, as their serving skips zero rows); MIND draws its routing logits from
torch's global generator at every forward, so `score_histories` runs under the fit seed.
One patch: ComiRec-DR's routing weights (``CapsuleNetwork.w``) are allocated with
``torch.Tensor(...)`` and never initialised (zeros, stale values or ~1e38, run to run); we fill
them from N(0, 1) with the seeded generator, ComiRec's own init. Their global RNG use is seeded
with ``seed`` and python's, numpy's and torch's generators are put back after `fit`.
"""

from __future__ import annotations

import contextlib
import io
import logging
import random
import tempfile
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, replace
from typing import Any, Literal

import numpy as np
import torch

from recpref.catalog import check_choice, check_float, check_int
from recpref.data.sequences import HeldOut, Sequences

__all__ = ["MODELS", "PRESETS", "RecHubExamples", "RecHubMultiInterest", "RecHubSettings", "build_examples"]

logger = logging.getLogger(__name__)

RecHubModelName = Literal["mind", "comirec-sa", "comirec-dr"]
RecHubPresetName = Literal["defaults", "fair"]
PadSide = Literal["pre", "post"]
MODELS: tuple[str, ...] = ("mind", "comirec-sa", "comirec-dr")

USER_FEATURE, ITEM_FEATURE, HISTORY_FEATURE, NEGATIVES_FEATURE = "user_const", "item_id", "hist_item_id", "neg_items"
"""Feature names of the examples (their examples: user_id..., movie_id, hist_movie_id, neg_items)."""


@dataclass(frozen=True)
class RecHubSettings:
    """One torch-rechub run: embedding ``dim``, ``n_interests`` K, history ``max_len``,
    ``epochs``, ``batch_size``, Adam ``lr`` / ``weight_decay``, ``neg_ratio`` negatives per
    example drawn by ``sample_method`` (their `negative_sample` ids: 0 uniform, 1 count^0.75),
    their `pad_sequences` ``padding`` / ``truncating`` sides, and ``temperature`` (passed to the
    model, which stores it and never applies it)."""

    dim: int
    n_interests: int
    max_len: int
    epochs: int
    batch_size: int
    lr: float
    weight_decay: float
    neg_ratio: int
    sample_method: int
    padding: PadSide
    truncating: PadSide
    temperature: float


PRESETS: dict[str, RecHubSettings] = {
    "defaults": RecHubSettings(dim=16, n_interests=4, max_len=50, epochs=10, batch_size=256, lr=1e-3,
                               weight_decay=1e-6, neg_ratio=3, sample_method=1, padding="post", truncating="post",
                               temperature=0.02),
    "fair": RecHubSettings(dim=64, n_interests=4, max_len=50, epochs=10, batch_size=512, lr=1e-3,
                           weight_decay=1e-6, neg_ratio=3, sample_method=1, padding="post", truncating="pre",
                           temperature=0.02),
}
"""See the module docstring for where each value comes from."""

_INT_OVERRIDES = ("dim", "n_interests", "max_len", "epochs", "batch_size", "neg_ratio")


@dataclass(frozen=True)
class RecHubExamples:
    """Their list-wise training examples. ``x``: feature dict (N,) / (N, max_len) / (N, neg_ratio)
    in their id space; ``y`` (N,) zeros (column 0 of the logits is the positive); ``users`` and
    ``cuts`` (N,): the recpref user and the target's position in that user's training sequence
    (kept for checks, not fed to the model)."""

    x: dict[str, np.ndarray]
    y: np.ndarray
    users: np.ndarray
    cuts: np.ndarray


def build_examples(train: Sequences, settings: RecHubSettings) -> RecHubExamples:
    """Every prefix -> next item of ``train`` as their examples (module docstring). Negatives
    come from numpy's global generator through their `negative_sample`; `RecHubMultiInterest.fit`
    seeds it. Raises ``ValueError`` when no user has two training events."""
    from torch_rechub.utils.data import pad_sequences
    from torch_rechub.utils.match import negative_sample

    per_user = np.maximum(train.lengths - 1, 0)
    n = int(per_user.sum())
    if n == 0:
        raise ValueError("no user has 2 training events: there is no prefix -> next item example")
    users = np.repeat(np.arange(train.n_users, dtype=np.int64), per_user)
    cuts = np.arange(n, dtype=np.int64) - np.repeat(np.cumsum(per_user) - per_user, per_user) + 1
    starts = train.indptr[:-1][users]
    ends = starts + cuts
    shifted = train.items + 1  # their id space: 0 = padding
    history = pad_sequences([shifted[s:e] for s, e in zip(starts.tolist(), ends.tolist())], maxlen=settings.max_len,
                            dtype="int64", padding=settings.padding, truncating=settings.truncating, value=0)
    counts = Counter(shifted.tolist())  # as theirs: items by count, most frequent first
    order = OrderedDict(sorted(counts.items(), key=lambda kv: kv[1], reverse=True))
    negatives = np.asarray(negative_sample(order, ratio=n * settings.neg_ratio, method_id=settings.sample_method),
                           dtype=np.int64).reshape(n, settings.neg_ratio)
    x = {USER_FEATURE: np.zeros(n, dtype=np.int64), ITEM_FEATURE: shifted[ends], HISTORY_FEATURE: history,
         NEGATIVES_FEATURE: negatives}
    return RecHubExamples(x, np.zeros(n, dtype=np.int64), users, cuts)


def _cuda_ids(device: torch.device) -> list[int]:
    """The CUDA device ids whose generator `torch.random.fork_rng` must save for ``device``."""
    return [device.index or 0] if device.type == "cuda" else []


@contextlib.contextmanager
def _seeded(seed: int, device: torch.device) -> Iterator[None]:
    """Seed python's, numpy's and torch's global generators (torch-rechub draws from them) and
    put their states back afterwards."""
    py_state, np_state = random.getstate(), np.random.get_state()
    with torch.random.fork_rng(devices=_cuda_ids(device)):
        random.seed(seed)
        np.random.seed(seed)
        torch.manual_seed(seed)
        try:
            yield
        finally:
            random.setstate(py_state)
            np.random.set_state(np_state)


@contextlib.contextmanager
def _quiet(verbose: bool) -> Iterator[None]:
    """Their trainer prints and draws tqdm bars: captured (logged at DEBUG) unless ``verbose``."""
    if verbose:
        yield
        return
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            yield
    finally:
        if out.getvalue():
            logger.debug("torch-rechub output:\n%s", out.getvalue())


def _build_model(model: str, settings: RecHubSettings, n_items: int, dynamic_interest: bool) -> Any:
    """Their model (an ``nn.Module``, untyped) over ``n_items + 1`` ids (0 = padding), features
    wired as their examples."""
    from torch_rechub.basic.features import SequenceFeature, SparseFeature
    from torch_rechub.models.matching import MIND, ComirecDR, ComirecSA

    d, vocab = settings.dim, n_items + 1
    user = [SparseFeature(USER_FEATURE, vocab_size=1, embed_dim=d)]
    history = [SequenceFeature(HISTORY_FEATURE, vocab_size=vocab, embed_dim=d, pooling="concat",
                               shared_with=ITEM_FEATURE)]
    item = [SparseFeature(ITEM_FEATURE, vocab_size=vocab, embed_dim=d)]
    negatives = [SequenceFeature(NEGATIVES_FEATURE, vocab_size=vocab, embed_dim=d, pooling="concat",
                                 shared_with=ITEM_FEATURE)]
    common = dict(temperature=settings.temperature, interest_num=settings.n_interests)
    builders: dict[str, Callable[[], Any]] = {
        "mind": lambda: MIND(user, history, item, negatives, max_length=settings.max_len,
                             dynamic_interest=dynamic_interest, **common),
        "comirec-sa": lambda: ComirecSA(user, history, item, negatives, **common),
        "comirec-dr": lambda: ComirecDR(user, history, item, negatives, max_length=settings.max_len, **common),
    }
    net = builders[model]()
    if model == "comirec-dr":  # torch-rechub leaves it uninitialised (module docstring)
        torch.nn.init.normal_(net.capsule.w)
    return net


class RecHubMultiInterest:
    """torch-rechub 0.9.0's ``model`` (mind, comirec-sa, comirec-dr) trained by its
    ``MatchTrainer`` at ``preset`` (defaults, fair; see the module docstring), any setting of
    `RecHubSettings` but the padding / sampling ones overridable by keyword. ``dynamic_interest``
    (MIND only) switches on their per-user K' = max(1, min(K, floor(log2 |history|))).
    ``device`` (default cpu) is passed to their trainer; ``verbose`` shows their prints and bars."""

    tool = "torch-rechub"

    def __init__(self, model: RecHubModelName = "comirec-sa", preset: RecHubPresetName = "defaults", *,
                 name: str | None = None, dim: int | None = None, n_interests: int | None = None,
                 max_len: int | None = None, epochs: int | None = None, batch_size: int | None = None,
                 lr: float | None = None, weight_decay: float | None = None, neg_ratio: int | None = None,
                 dynamic_interest: bool = False, device: str = "cpu", verbose: bool = False) -> None:
        check_choice("model", model, MODELS)
        check_choice("preset", preset, tuple(PRESETS))
        given: dict[str, Any] = dict(dim=dim, n_interests=n_interests, max_len=max_len, epochs=epochs,
                                     batch_size=batch_size, neg_ratio=neg_ratio, lr=lr, weight_decay=weight_decay)
        for key in _INT_OVERRIDES:
            if given[key] is not None:
                check_int(key, given[key], 1)
        if lr is not None:
            check_float("lr", lr, low=0.0, low_open=True)
        if weight_decay is not None:
            check_float("weight_decay", weight_decay, low=0.0)
        if not isinstance(dynamic_interest, bool):
            raise ValueError(f"dynamic_interest must be True or False; got {dynamic_interest!r}")
        if dynamic_interest and model != "mind":
            raise ValueError(f"dynamic_interest applies to model mind, not {model!r}")
        if not isinstance(verbose, bool):
            raise ValueError(f"verbose must be True or False; got {verbose!r}")
        try:
            self.device = torch.device(device)
        except (RuntimeError, TypeError) as e:
            raise ValueError(f"device must be a torch device string such as 'cpu' or 'cuda:0'; got {device!r}") from e
        if name is not None and not isinstance(name, str):
            raise ValueError(f"name must be a string or None; got {name!r}")
        self.model, self.preset = model, preset
        self.settings = replace(PRESETS[preset], **{k: v for k, v in given.items() if v is not None})
        self.dynamic_interest, self.verbose = dynamic_interest, verbose
        self.name = name or f"torch-rechub {model} ({preset})"
        self.epoch_seconds: list[float] = []
        self._net: Any = None  # their model (untyped)
        self._items: torch.Tensor | None = None  # (n_items, dim) their item vectors, recpref order
        self._seed = 0

    def params(self) -> dict[str, Any]:
        out: dict[str, Any] = {"model": self.model, "preset": self.preset, **asdict(self.settings),
                               "temperature_applied": False, "device": str(self.device)}
        if self.model == "mind":
            out["dynamic_interest"] = self.dynamic_interest
        if self.model == "comirec-dr":
            out["routing_weight_init"] = "normal(0, 1) by recpref (torch-rechub leaves it uninitialised)"
        try:
            from importlib.metadata import PackageNotFoundError, version

            out["torch_rechub"] = version("torch-rechub")
        except PackageNotFoundError:
            out["torch_rechub"] = None
        return out

    def warmup(self) -> None:
        """Import torch-rechub's modules and what their Adam's first construction imports
        (torch._dynamo): one-time costs, not training time."""
        import torch_rechub.models.matching  # noqa: F401
        import torch_rechub.trainers  # noqa: F401
        import torch_rechub.utils.match  # noqa: F401

        torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))])

    def fit(self, train: Sequences, valid: HeldOut | None, seed: int) -> None:
        """Train on every prefix -> next item of ``train`` for ``epochs`` epochs (``valid``
        unused: no early stopping, see the module docstring)."""
        from torch_rechub.trainers import MatchTrainer
        from torch_rechub.utils.data import MatchDataGenerator

        check_int("seed", seed, 0)
        s = self.settings
        self.epoch_seconds = []
        self._net = self._items = None
        with _seeded(seed, self.device), _quiet(self.verbose), tempfile.TemporaryDirectory() as folder:
            examples = build_examples(train, s)
            net = _build_model(self.model, s, train.n_items, self.dynamic_interest)
            trainer = MatchTrainer(net, mode=2, optimizer_params={"lr": s.lr, "weight_decay": s.weight_decay},
                                   n_epoch=s.epochs, device=str(self.device), model_path=folder)
            items = {ITEM_FEATURE: np.arange(1, train.n_items + 1, dtype=np.int64)}
            loader = MatchDataGenerator(x=examples.x, y=examples.y).generate_dataloader(
                examples.x, items, batch_size=s.batch_size, num_workers=0)[0]
            trainer.train_one_epoch = self._timed(trainer.train_one_epoch)
            trainer.fit(loader)
        self._seed, self._net = seed, net
        self._items = self._tower(net, "item", {ITEM_FEATURE: torch.arange(1, train.n_items + 1)})

    def _timed(self, epoch: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            out = epoch(*args, **kwargs)
            self.epoch_seconds.append(time.perf_counter() - t0)
            return out

        return timed

    def _tower(self, net: Any, mode: str, x: dict[str, torch.Tensor]) -> torch.Tensor:
        """Their user (``mode="user"``: (B, K, dim)) or item (``"item"``: (n, dim)) vectors."""
        net.eval()
        net.mode = mode
        try:
            with torch.no_grad():
                vectors: torch.Tensor = net({k: v.to(self.device) for k, v in x.items()})
        finally:
            net.mode = None
        return vectors

    def to_rechub_histories(self, items: torch.Tensor, mask: torch.Tensor) -> np.ndarray:
        """Harness histories (B, T), left-padded with ``n_items`` where ``mask`` is False ->
        their layout (B, max_len): ids + 1, 0 = padding, padded / truncated by their
        `pad_sequences` as in training."""
        from torch_rechub.utils.data import pad_sequences

        if items.dim() != 2 or items.shape != mask.shape:
            raise ValueError(f"items and mask must both be (B, T); got {tuple(items.shape)} and {tuple(mask.shape)}")
        shifted, keep = items.cpu().numpy() + 1, mask.cpu().numpy().astype(bool)
        s = self.settings
        rows = [shifted[b][keep[b]] for b in range(shifted.shape[0])]
        out: np.ndarray = pad_sequences(rows, maxlen=s.max_len, dtype="int64", padding=s.padding,
                                        truncating=s.truncating, value=0)
        return out

    def interests(self, items: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Their user tower on harness histories -> (B, K, dim) unit interest vectors and, for MIND
        with ``dynamic_interest``, the (B, K) bool mask of active interests (else None)."""
        if self._net is None:
            raise RuntimeError(f"{self.name} is not fitted; call fit(train, valid, seed) first")
        history = torch.as_tensor(self.to_rechub_histories(items, mask))
        x = {USER_FEATURE: torch.zeros(history.shape[0], dtype=torch.int64), HISTORY_FEATURE: history}
        with torch.random.fork_rng(devices=_cuda_ids(self.device)):
            torch.manual_seed(self._seed)  # MIND's routing logits are drawn at every forward
            vectors = self._tower(self._net, "user", x)
        active = None
        if self.dynamic_interest:
            with torch.no_grad():
                active = self._net.active_interest_mask({k: v.to(self.device) for k, v in x.items()})
        return vectors, active

    def score_histories(self, items: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """(B, T) harness histories -> (B, n_items) scores max_k v_k . e_j, column j = recpref item j."""
        vectors, active = self.interests(items, mask)
        assert self._items is not None
        scores = torch.full((vectors.shape[0], self._items.shape[0]), float("-inf"), device=vectors.device)
        for k in range(vectors.shape[1]):  # a running max: memory O(B x n_items), not K times that
            s_k = vectors[:, k] @ self._items.T
            if active is not None:
                s_k = s_k.masked_fill(~active[:, k : k + 1], float("-inf"))
            scores = torch.maximum(scores, s_k)
        return scores.to(items.device)
