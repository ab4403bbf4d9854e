"""RecBole 1.2.1's SASRec, GRU4Rec and SINE as runners of the sequence harness
(`recpref.benchmarking.sequence_harness`): trained by RecBole's own data pipeline, model and
``Trainer`` on exactly recpref's training sequences, scored on the harness's inputs by recpref's
evaluator. recbole is imported lazily, only inside `fit` / `warmup` / `training_samples`, under
the shims and global-state restoration of `recpref.benchmarking.recbole_runner`.

What RecBole trains on. `fit` writes ``split.train`` as RecBole atomic files in a temporary
directory: ``recpref.inter`` = one line per training event, ``user_id`` = recpref user index,
``item_id`` = recpref item index, ``timestamp`` = the event's position in its user's sequence
(so RecBole's time order is ours and ties cannot occur); ``recpref.item`` lists every item index
``0..n_items-1``. RecBole's `SequentialDataset` then makes its own training samples, as it does
for any dataset: every prefix of every user's sequence (its last ``max_len`` items) with the next
item as target. Its split is ``RS [1, 0, 0]`` grouped by user, so *all* those samples are RecBole's
training set and its own valid / test sets are empty: RecBole never holds out an item of our
training sequences, and never sees a validation or test item. `training_samples` decodes what
RecBole's training loader holds back to recpref indices (the tests check it equals the samples
of ``split.train``).

Why not RecBole's leave-one-out ('LS') on train + the validation item: its 'valid_and_test'
would hold out the last *training* item as well (RecBole's valid = our last training target),
'valid_only' moves the validation sample of a user with a one-item training sequence into
RecBole's training set (RecBole keeps at least one sample per user in train), and neither can
express splits whose validation users are not training users (``comirec_split``).

Validation and early stopping. With ``valid`` given, RecBole's ``Trainer.fit`` runs as usual
(``eval_step=1``, ``stopping_step``) but its validation step is ours: NDCG@``valid_k`` of
`recpref.evaluation.evaluate` over ``valid.inputs`` (the last ``max_len`` items) -> ``valid.targets``,
every item ranked (the harness's protocol), through this runner's `score_histories`. Training
stops after ``patience`` validations without gain (RecBole's ``stopping_step = patience - 1``; as
in RecBole, a tie counts as a gain) and the best epoch's weights are kept, copied in memory by
the trainer's checkpoint hook, never written to disk. Without ``valid`` all ``epochs`` run and the
last weights are kept.

Scores. `score_histories` turns the harness's left-padded rows (pad = ``n_items``) into
RecBole's right-padded ``item_id_list`` of width ``max_len`` (RecBole ids, 0 = padding) plus
``item_length``, calls the model's ``full_sort_predict`` (B, RecBole's item_num) and returns the
columns in recpref's item order: RecBole's padding column 0 is dropped. Every recpref item has a
RecBole id (the ``.item`` file), so every column is a model score; an item absent from the
training sequences keeps an embedding trained only as a negative (CE's softmax denominator, or
BPR's uniform negatives), which is what RecBole does with such an item.

Device: RecBole's ``Config`` picks CUDA whenever its ``gpu_id`` is non-empty and a GPU exists, and
sets ``CUDA_VISIBLE_DEVICES``; here ``gpu_id`` is empty for ``device="cpu"``, the model's device is
set from ``device`` explicitly, and ``CUDA_VISIBLE_DEVICES`` is put back after each call.
"""

from __future__ import annotations

import importlib.util
import os
import re
import tempfile
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, get_args

import torch

from recpref.benchmarking.recbole_runner import (
    _recbole_shims,
    _restored_global_state,
    _time_train_epochs,
    _working_directory,
)
from recpref.catalog import check_choice, check_float, check_int
from recpref.data.sequences import HeldOut, Sequences

if TYPE_CHECKING:
    from recpref.data import Interactions

__all__ = ["RECBOLE_SEQUENCE_MODELS", "RecBoleSequential"]

RecBoleSequenceModel = Literal["SASRec", "GRU4Rec", "SINE"]
RecBoleLossType = Literal["CE", "BPR"]
RECBOLE_SEQUENCE_MODELS: tuple[str, ...] = get_args(RecBoleSequenceModel)
LOSS_TYPES: tuple[str, ...] = get_args(RecBoleLossType)

# The RecBole setting that ``dim`` sets, per model (the item embedding = the output space).
_DIM_SETTING = {"SASRec": "hidden_size", "GRU4Rec": "embedding_size", "SINE": "embedding_size"}
_SCORE_BATCH = 4096  # rows per full_sort_predict call in score_histories


def _model_settings(model: str) -> tuple[str, ...] | None:
    """The hyperparameter names of RecBole's ``properties/model/<model>.yaml`` (without importing
    recbole), or None when recbole is not installed."""
    spec = importlib.util.find_spec("recbole")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "properties" / "model" / f"{model}.yaml"
    if not path.is_file():
        return None
    return tuple(m.group(1) for m in re.finditer(r"^(\w+)\s*:", path.read_text(), flags=re.MULTILINE))


@contextmanager
def _cuda_visible_devices_restored() -> Iterator[None]:
    """RecBole's Config writes ``CUDA_VISIBLE_DEVICES``; put the caller's value back."""
    before = os.environ.get("CUDA_VISIBLE_DEVICES")
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("CUDA_VISIBLE_DEVICES", None)
        else:
            os.environ["CUDA_VISIBLE_DEVICES"] = before


class RecBoleSequential:
    """RecBole's ``model`` (SASRec, GRU4Rec or SINE) as a `SequenceRunner`; see the module docstring.

    ``epochs`` at most (fewer with early stopping on ``valid``), ``batch_size`` training samples
    per step, Adam with ``lr``, ``dim`` = the item embedding size (SASRec's ``hidden_size``,
    GRU4Rec's and SINE's ``embedding_size``), ``max_len`` = RecBole's ``MAX_ITEM_LIST_LENGTH``
    (training prefixes and scored histories keep their last ``max_len`` items), ``loss_type``
    CE (full softmax) or BPR (one uniform negative), ``patience`` validations without gain before
    stopping, ``valid_k`` the NDCG cut-off of that validation. ``model_kwargs`` are further
    hyperparameters of RecBole's model (its ``properties/model/<model>.yaml``, e.g. ``n_layers``,
    ``dropout_prob``, ``interest_size``); the rest keep RecBole's defaults."""

    tool = "recbole"

    def __init__(self, model: RecBoleSequenceModel = "SASRec", *, epochs: int = 200, batch_size: int = 256,
                 lr: float = 1e-3, dim: int = 64, max_len: int = 50, loss_type: RecBoleLossType = "CE",
                 patience: int = 10, valid_k: int = 10, device: str = "cpu", name: str | None = None,
                 show_progress: bool = False, **model_kwargs: Any) -> None:
        check_choice("model", model, RECBOLE_SEQUENCE_MODELS)
        check_int("epochs", epochs, 1)
        check_int("batch_size", batch_size, 1)
        check_float("lr", lr, low=0.0, low_open=True)
        check_int("dim", dim, 1)
        check_int("max_len", max_len, 1)
        check_choice("loss_type", loss_type, LOSS_TYPES)
        check_int("patience", patience, 1)
        check_int("valid_k", valid_k, 1)
        if not isinstance(device, str) or re.fullmatch(r"cpu|cuda(:\d+)?", device) is None:
            raise ValueError(f"device must be 'cpu', 'cuda' or 'cuda:N'; got {device!r}")
        dim_key = _DIM_SETTING[model]
        if dim_key in model_kwargs:
            raise ValueError(f"{dim_key} is set by the dim argument of RecBoleSequential, not by a model keyword")
        known = _model_settings(model)
        if known is not None:
            allowed = tuple(k for k in known if k not in ("loss_type", dim_key))
            for key in model_kwargs:
                if key not in allowed:
                    raise ValueError(f"{key!r} is not a RecBole {model} setting; the settings are "
                                     f"{', '.join(allowed)}")
        if model == "SASRec":
            n_heads = model_kwargs.get("n_heads", 2)
            check_int("n_heads", n_heads, 1)
            if dim % n_heads:
                raise ValueError(f"dim ({dim}) must be a multiple of n_heads ({n_heads}) for SASRec")
        self.model, self.epochs, self.batch_size, self.lr, self.dim = model, epochs, batch_size, lr, dim
        self.max_len, self.loss_type, self.patience, self.valid_k = max_len, loss_type, patience, valid_k
        self.device, self.show_progress, self.model_kwargs = device, show_progress, dict(model_kwargs)
        self.name = name or f"RecBole {model}"
        self.epoch_seconds: list[float] = []
        self.best_epoch: int | None = None  # 0-based epoch whose weights were kept (None before fit)
        self._net: Any = None  # the trained RecBole model
        self._columns: torch.Tensor | None = None  # (n_items,) RecBole id of each recpref item
        self._to_recbole: torch.Tensor | None = None  # (n_items + 1,) RecBole id per index, pad -> 0

    def params(self) -> dict[str, Any]:
        out: dict[str, Any] = {"model": self.model, "epochs": self.epochs, "batch_size": self.batch_size,
                               "lr": self.lr, "dim": self.dim, "max_len": self.max_len, "loss_type": self.loss_type,
                               "patience": self.patience, "valid_k": self.valid_k, "device": self.device,
                               **self.model_kwargs}
        if self.best_epoch is not None:
            out["best_epoch"] = self.best_epoch
        return out

    # ------------------------------------------------------------------ RecBole sessions
    @contextmanager
    def _session(self) -> Iterator[Path]:
        """Shims, restored global state, a temporary working directory (data, checkpoints and
        RecBole's log_tensorboard/ live there and go with it), RecBole imported."""
        with ExitStack() as stack:
            stack.enter_context(_restored_global_state())
            stack.enter_context(_cuda_visible_devices_restored())
            stack.enter_context(_recbole_shims())
            tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="recpref-recbole-")))
            stack.enter_context(_working_directory(tmp))
            self._import_recbole()
            yield tmp

    @staticmethod
    def _import_recbole() -> None:
        import recbole.config  # noqa: F401
        import recbole.data  # noqa: F401
        import recbole.model.sequential_recommender  # noqa: F401
        import recbole.trainer  # noqa: F401

    def warmup(self) -> None:
        """Import RecBole's modules (one-time cost, not train time), under the same shims."""
        with self._session():
            pass

    def _config(self, tmp: Path, seed: int, validates: bool) -> Any:
        from recbole.config import Config  # type: ignore[import-untyped]

        negatives = None if self.loss_type == "CE" else {"distribution": "uniform", "sample_num": 1}
        settings: dict[str, Any] = {
            **self.model_kwargs,
            _DIM_SETTING[self.model]: self.dim,
            "loss_type": self.loss_type,
            "data_path": str(tmp / "data"),
            "load_col": {"inter": ["user_id", "item_id", "timestamp"], "item": ["item_id"]},
            "user_inter_num_interval": "[0,inf)",
            "item_inter_num_interval": "[0,inf)",
            "MAX_ITEM_LIST_LENGTH": self.max_len,
            # every sample RecBole makes from our training sequences is a training sample
            "eval_args": {"split": {"RS": [1.0, 0.0, 0.0]}, "order": "TO", "group_by": "user", "mode": "full"},
            "train_neg_sample_args": negatives,
            "train_batch_size": self.batch_size,
            "learning_rate": self.lr,
            "epochs": self.epochs,
            "eval_step": 1 if validates else 0,
            "stopping_step": self.patience - 1,
            "valid_metric": f"NDCG@{self.valid_k}",
            "seed": seed,
            "reproducibility": True,
            "gpu_id": "" if self.device == "cpu" else os.environ.get("CUDA_VISIBLE_DEVICES") or "0",
            "use_gpu": self.device != "cpu",
            "checkpoint_dir": str(tmp / "saved"),
            "show_progress": self.show_progress,
            "state": "WARNING",
            "worker": 0,
        }
        config = Config(model=self.model, dataset="recpref", config_dict=settings)
        config["device"] = torch.device(self.device)  # not RecBole's pick from gpu_id (module docstring)
        return config

    def _training_data(self, train: Sequences, tmp: Path, seed: int, validates: bool) -> tuple[Any, Any, Any]:
        """Write ``train`` as atomic files under ``tmp`` -> (config, dataset, RecBole's train loader)."""
        from recbole.data import create_dataset, data_preparation  # type: ignore[import-untyped]
        from recbole.utils import init_seed  # type: ignore[import-untyped]

        if train.nnz == 0:
            raise ValueError("train has no events: nothing to train on")
        data_dir = tmp / "data" / "recpref"
        data_dir.mkdir(parents=True)
        lines = "".join(f"{u}\t{i}\t{t}\n" for u, i, t in
                        zip(train.rows.tolist(), train.items.tolist(), train.positions.tolist()))
        (data_dir / "recpref.inter").write_text("user_id:token\titem_id:token\ttimestamp:float\n" + lines)
        (data_dir / "recpref.item").write_text("item_id:token\n" + "".join(f"{i}\n" for i in range(train.n_items)))
        if self.device != "cpu":
            torch.cuda.init()  # before RecBole's Config sets CUDA_VISIBLE_DEVICES: it cannot hide the device
        config = self._config(tmp, seed, validates)
        init_seed(seed, True)
        dataset = create_dataset(config)
        train_data, _, _ = data_preparation(config, dataset)
        return config, dataset, train_data

    @staticmethod
    def _item_ids(dataset: Any, n_items: int) -> torch.Tensor:
        """(n_items,) RecBole's internal id of each recpref item index (their tokens are the indices)."""
        tokens = dataset.field2id_token["item_id"]  # id -> token; id 0 is "[PAD]"
        ids = torch.full((n_items,), -1, dtype=torch.int64)
        for rb_id in range(1, len(tokens)):
            ids[int(tokens[rb_id])] = rb_id
        if bool((ids < 0).any()):
            raise RuntimeError(f"RecBole has no id for item {int(torch.nonzero(ids < 0)[0])}")
        return ids

    def training_samples(self, train: Sequences, seed: int = 0) -> list[tuple[int, tuple[int, ...], int]]:
        """What RecBole's training loader holds for ``train`` (the same pipeline as `fit`), in
        recpref indices: (user, history (last ``max_len`` items, oldest first), target) per sample,
        sorted. For checking that RecBole trains on exactly our sequences."""
        with self._session() as tmp:
            _, dataset, train_data = self._training_data(train, tmp, seed, validates=False)
            feat = train_data.dataset.inter_feat
            users = dataset.field2id_token["user_id"][feat["user_id"].numpy()]
            item_tok = dataset.field2id_token["item_id"]
            lists, lengths = feat["item_id_list"].numpy(), feat["item_length"].numpy()
            targets = item_tok[feat["item_id"].numpy()]
            return sorted((int(u), tuple(int(x) for x in item_tok[row[:n]]), int(t))
                          for u, row, n, t in zip(users, lists, lengths, targets))

    # ------------------------------------------------------------------ SequenceRunner
    def fit(self, train: Sequences, valid: HeldOut | None, seed: int) -> None:
        self._net = self._columns = self._to_recbole = None
        self.epoch_seconds, self.best_epoch = [], None
        try:
            with self._session() as tmp:
                self._fit(train, valid, seed, tmp)
        except BaseException:
            self._net = self._columns = self._to_recbole = None  # a failed fit leaves no model to score
            raise

    def _fit(self, train: Sequences, valid: HeldOut | None, seed: int, tmp: Path) -> None:
        import recbole.model.sequential_recommender as models  # type: ignore[import-untyped]
        from recbole.trainer import Trainer  # type: ignore[import-untyped]
        from recbole.utils import init_seed  # type: ignore[import-untyped]

        config, dataset, train_data = self._training_data(train, tmp, seed, validates=valid is not None)
        init_seed(seed, True)  # as RecBole's run_recbole: the model's initialisation from the seed
        net = getattr(models, self.model)(config, train_data.dataset).to(config["device"])
        columns = self._item_ids(dataset, train.n_items)
        # set now: the validation step scores through score_histories
        self._net, self._columns = net, columns
        self._to_recbole = torch.cat([columns, torch.zeros(1, dtype=torch.int64)])
        trainer = Trainer(config, net)
        self.epoch_seconds = _time_train_epochs(trainer)  # filled as the epochs run
        best: dict[str, Any] = {}
        if valid is not None:
            validate = self._validator(valid)

            def valid_epoch(valid_data: Any, show_progress: bool = False) -> tuple[float, dict[str, float]]:
                score = validate()
                return score, {f"ndcg@{self.valid_k}": score}

            def keep_best(epoch: int, verbose: bool = True, **kwargs: Any) -> None:
                best["epoch"] = epoch
                best["state"] = {k: v.detach().clone() for k, v in net.state_dict().items()}

            trainer._valid_epoch, trainer._save_checkpoint = valid_epoch, keep_best
        # valid_data only has to be truthy: our valid_epoch above is what reads it
        trainer.fit(train_data, valid_data=valid, saved=valid is not None, show_progress=self.show_progress,
                    verbose=False)
        if "state" in best:
            net.load_state_dict(best["state"])
            self.best_epoch = int(best["epoch"])
        else:
            self.best_epoch = len(self.epoch_seconds) - 1
        net.eval()

    def _validator(self, valid: HeldOut) -> Callable[[], float]:
        """A function -> NDCG@valid_k of the current model on ``valid`` (recpref's `evaluate`)."""
        from recpref.evaluation import evaluate
        from recpref.modules.sequence import evaluation_mask

        inputs = valid.inputs.padded(None, self.max_len)
        seen = evaluation_mask(valid.inputs.to_interactions(), False)
        truth: Interactions = valid.targets.to_interactions()

        def scorer(users: torch.Tensor) -> torch.Tensor:
            u = users.cpu()
            return self.score_histories(inputs.items[u], inputs.mask[u])

        def validate() -> float:
            res = evaluate(scorer, seen, truth, k=(self.valid_k,), metrics=("ndcg",))
            return float(res.metrics[f"ndcg@{self.valid_k}"])

        return validate

    def score_histories(self, items: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """items (B, T) recpref item indices, left-padded with ``n_items`` where ``mask`` (B, T) is
        False -> (B, n_items) float32 scores on the CPU, recpref's item order. Each row keeps its
        last ``max_len`` columns and needs at least one item there."""
        if self._net is None or self._columns is None or self._to_recbole is None:
            raise RuntimeError(f"{self.name} is not fitted; call fit(train, valid, seed) first")
        if items.shape != mask.shape or items.dim() != 2:
            raise ValueError(f"items and mask must be (B, T) of one shape; got {tuple(items.shape)} and "
                             f"{tuple(mask.shape)}")
        n_items = len(self._columns)
        items, mask = items[:, -self.max_len:].cpu(), mask[:, -self.max_len:].cpu().bool()
        bad = mask & ((items < 0) | (items >= n_items))
        if bool(bad.any()):
            raise ValueError(f"item index {int(items[bad][0])} out of range [0, {n_items})")
        lengths = mask.sum(1)
        if bool((lengths == 0).any()):
            raise ValueError(f"row {int(torch.nonzero(lengths == 0)[0])} has no item in its last {self.max_len} "
                             "columns: a sequence model needs at least one")
        # RecBole pads on the right with id 0: real items first (their order kept), then pads.
        order = torch.argsort((~mask).to(torch.int8), dim=1, stable=True)
        ids = torch.where(mask, self._to_recbole[items.clamp(0, n_items)], 0).gather(1, order)
        width = ids.shape[1]
        if width < self.max_len:  # SINE needs exactly max_len columns; the others don't mind
            ids = torch.nn.functional.pad(ids, (0, self.max_len - width))
        net = self._net
        device = next(net.parameters()).device
        net.eval()
        out = []
        with torch.no_grad():
            for start in range(0, len(ids), _SCORE_BATCH):
                batch = {net.ITEM_SEQ: ids[start:start + _SCORE_BATCH].to(device),
                         net.ITEM_SEQ_LEN: lengths[start:start + _SCORE_BATCH].to(device)}
                scores = net.full_sort_predict(batch)  # (b, RecBole's item_num); column 0 = padding
                out.append(scores[:, self._columns.to(device)].float().cpu())
        return torch.cat(out) if out else torch.empty(0, n_items)

