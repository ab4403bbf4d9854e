"""Sampler throughput: (user, positive, negative) triples per second, recpref's batch stream and
its parts side by side with RecBole 1.2.1's sampler and a plain numba loop, in one run.

    .venv/bin/python benchmarks/sampler_throughput.py [--datasets ml-100k gowalla] [--triples 1000000] [--repeats 7]

Rows (per dataset; Gowalla's train split from $RECPREF_DATA_DIR/gowalla, skipped with a message
when absent):

- ``recpref stream``: `build_batches(...)` iterated exactly as the trainers consume it (batch
  2048, 16 steps per chunk, one negative per positive): the epoch's positives up front, then
  exact negatives per chunk. Uniform and popularity^0.75 negatives; the ``interactions`` and
  ``shuffle`` positive streams.
- ``without the epoch range check``: `SampledBatches.__iter__` rebuilt here without its
  once-per-epoch range check of the epoch's indices, so the check's share shows.
- ``pre-fix stream``: the same stream as the samplers drew it at commit 8183e79, before a7376fe
  (torch gathers and range checks, the numba loop compiled ``parallel=True`` on numba's OpenMP
  layer), rebuilt here; the run checks that it yields the very same batches as today's stream.
- parts alone: the negative sampler's ``sample`` on fixed users, its compiled kernel, and the
  positive stream's ``epoch``.
- ``plain numba loop``: the simplest compiled sampler one would write (not in recpref): per
  triple a uniform stored pair, then uniform items until one is not in the user's CSR row
  (binary search); numba's own RNG, no determinism across thread counts; serial and ``prange``.
- ``RecBole``: its ``TrainDataLoader`` iterated as its ``Trainer`` does (shuffled pairs, then
  ``_neg_sampling`` per batch of 2048: one uniform negative per pair), and its sampler's
  ``sample_by_user_ids`` alone on fixed batches of 2048 users. RecBole is set up on recpref's
  training pairs under the shims of `recpref.benchmarking.recbole_runner`.

Each repeat times every row once, in turn (a 50 ms pause between rows lets spinning OpenMP
workers of the previous row go to sleep); the table gives the median over repeats, the range,
and ratios to RecBole's loader and to the serial plain loop, all from this run. Absolute
figures depend on the machine and on what else runs on it: compare ratios.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numba
import numpy as np
import torch
from numba import njit, prange

import data_loaders
from recpref.data import Interactions
from recpref.kernels.negatives import BLOCK, _M2, _below, _next, _unit, sample_negatives
from recpref.sampling.batches import SampledBatches, build_batches
from recpref.sampling import NegativeSampler, PositiveSampler, make_generator

BATCH, STEPS_PER_CALL = 2048, 16
CHUNK = BATCH * STEPS_PER_CALL


# --- the pre-fix stream (commit 8183e79), rebuilt for before/after in one run -------------------

@njit(cache=True, nogil=True, parallel=True)
def _prefix_kernel(users: np.ndarray, n_neg: int, n_items: int, bytemap: np.ndarray, bits: np.ndarray,
                   alias_prob: np.ndarray, alias: np.ndarray, seed: int, max_tries: int) -> np.ndarray:
    out = np.empty((users.size, n_neg), dtype=np.int64)
    use_bytes = bytemap.size > 0
    uniform = alias.size == 0
    n_blocks = (users.size + BLOCK - 1) // BLOCK
    for blk in prange(n_blocks):
        state = np.empty(1, dtype=np.uint64)
        state[0] = np.uint64(seed) ^ (np.uint64(blk + 1) * _M2)
        _next(state)
        for b in range(blk * BLOCK, min(users.size, (blk + 1) * BLOCK)):
            base = users[b] * n_items
            for k in range(n_neg):
                item = -1
                for _ in range(max_tries):
                    j = _below(state, n_items)
                    if not uniform and _unit(state) >= alias_prob[j]:
                        j = alias[j]
                    cell = base + j
                    hit = bytemap[cell] != 0 if use_bytes else (bits[cell >> 3] >> (cell & 7)) & 1
                    if not hit:
                        item = j
                        break
                out[b, k] = item
    return out


def _tables(neg: NegativeSampler) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    empty = np.empty(0, dtype=np.uint8)
    bytemap = neg.bytemap.numpy().view(np.uint8) if neg.bytemap is not None else empty
    bits = neg.bits.numpy() if neg.bits is not None else empty
    return (bytemap, bits, *neg._alias_arrays())


def prefix_stream(bb: SampledBatches) -> Iterator[dict[str, torch.Tensor]]:
    """One epoch of `SampledBatches` ("interactions" stream) as the code before this commit drew it."""
    pos, neg, b = bb.positives, bb.negatives, bb.batch_size
    gen = make_generator(bb.seed, rank=bb.rank, epoch=bb.epoch)
    bb.epoch += 1
    idx = torch.randint(len(pos.indices), (bb.steps * b,), generator=gen)
    all_users, all_pos = pos.rows.index_select(0, idx), pos.indices.index_select(0, idx)
    bytemap, bits, prob, alias = _tables(neg)
    for start in range(0, bb.steps, bb.steps_per_call):
        s = min(bb.steps_per_call, bb.steps - start)
        users, p = all_users[start * b:(start + s) * b], all_pos[start * b:(start + s) * b]
        if users.min() < 0 or users.max() >= neg.n_users:
            raise ValueError("user indices out of range")
        seed = int(torch.randint(2**62, (1,), generator=gen))
        out = torch.from_numpy(_prefix_kernel(np.ascontiguousarray(users.numpy()), bb.n_neg, neg.n_items, bytemap,
                                              bits, prob, alias, seed, 2048))
        if len((out == -1).view(-1).nonzero()):
            raise RuntimeError("stuck slots: not expected on these datasets")
        yield {"users": users.view(s, b), "pos": p.view(s, b), "neg": out.view(s, b, bb.n_neg)}


def unchecked_stream(bb: SampledBatches) -> Iterator[dict[str, torch.Tensor]]:
    """`SampledBatches.__iter__` without its once-per-epoch index range check (on the
    whole epoch's users and positives): the samplers' share of the stream alone."""
    gen = make_generator(bb.seed, rank=bb.rank, epoch=bb.epoch, device=bb.positives.device)
    bb.epoch += 1
    b = bb.batch_size
    all_users, all_pos = bb.positives.epoch(bb.steps * b, gen)
    for start in range(0, bb.steps, bb.steps_per_call):
        s = min(bb.steps_per_call, bb.steps - start)
        users, p = all_users[start * b:(start + s) * b], all_pos[start * b:(start + s) * b]
        neg = bb.negatives.sample(users, bb.n_neg, gen)
        yield {"users": users.view(s, b), "pos": p.view(s, b), "neg": neg.view(s, b, bb.n_neg)}


# --- the plain numba loop ---------------------------------------------------------------------

def _plain_body(rows: np.ndarray, indices: np.ndarray, indptr: np.ndarray, n_items: int, n: int) -> np.ndarray:
    out = np.empty((n, 3), dtype=np.int64)
    for t in prange(n):
        k = np.random.randint(0, indices.size)
        u = rows[k]
        lo, hi = indptr[u], indptr[u + 1]
        while True:
            j = np.random.randint(0, n_items)
            a, c = lo, hi
            while a < c:  # first position in the user's sorted row with indices >= j
                m = (a + c) >> 1
                if indices[m] < j:
                    a = m + 1
                else:
                    c = m
            if a == hi or indices[a] != j:
                break
        out[t, 0], out[t, 1], out[t, 2] = u, indices[k], j
    return out


plain_serial = njit(nogil=True)(_plain_body)  # not cached: both compile the same function
plain_parallel = njit(nogil=True, parallel=True)(_plain_body)


# --- RecBole --------------------------------------------------------------------------------------

def recbole_loader(train: Interactions, tmp: Path, seed: int = 0) -> Any:
    """RecBole's TrainDataLoader for BPR on ``train`` (call under the runner's shims)."""
    from recbole.config import Config  # type: ignore[import-untyped]
    from recbole.data import create_dataset, data_preparation  # type: ignore[import-untyped]
    from recbole.utils import init_seed  # type: ignore[import-untyped]

    data_dir = tmp / "data" / "recpref"
    data_dir.mkdir(parents=True)
    header = "user_id:token\titem_id:token\n"
    rows, cols = train.rows, train.indices
    (data_dir / "recpref.train.inter").write_text(header + "".join(f"{u}\t{i}\n" for u, i in zip(rows.tolist(), cols.tolist())))
    for part in ("valid", "test"):  # RecBole insists on them; never iterated here
        (data_dir / f"recpref.{part}.inter").write_text(header + f"{rows[0]}\t{cols[0]}\n")
    config = Config(model="BPR", dataset="recpref", config_dict={
        "data_path": str(tmp / "data"), "benchmark_filename": ["train", "valid", "test"],
        "load_col": {"inter": ["user_id", "item_id"]}, "user_inter_num_interval": "[0,inf)",
        "item_inter_num_interval": "[0,inf)", "train_batch_size": BATCH, "seed": seed, "reproducibility": True,
        "train_neg_sample_args": {"distribution": "uniform", "sample_num": 1}, "eval_step": 0, "use_gpu": False,
        "device": "cpu", "checkpoint_dir": str(tmp / "saved"), "show_progress": False, "state": "WARNING", "worker": 0,
    })
    init_seed(seed, True)
    train_data, _, _ = data_preparation(config, create_dataset(config))
    return train_data


# --- timing -----------------------------------------------------------------------------------------

Row = Callable[[], int]  # draws some triples, returns how many


def stream_row(bb: SampledBatches, target: int,
               loop: Callable[[SampledBatches], Iterator[dict[str, torch.Tensor]]] = iter) -> Row:
    def run() -> int:
        n = 0
        while n < target:
            for batch in loop(bb):
                n += batch["neg"].numel()
        return n
    return run


def build_rows(train: Interactions, target: int, recbole: Any) -> dict[str, Row]:
    steps = -(-train.nnz // BATCH)

    def batches(negatives: str = "uniform", stream: str = "interactions") -> SampledBatches:
        return build_batches(train, batch_size=BATCH, n_neg=1, negatives=negatives,  # type: ignore[arg-type]
                             popularity_exponent=0.75, stream=stream, steps=steps,  # type: ignore[arg-type]
                             seed=0, steps_per_call=STEPS_PER_CALL)

    uni = batches()
    for loop in (prefix_stream, unchecked_stream):
        for new, old in zip(batches(), loop(batches()), strict=True):
            if not all(torch.equal(new[k], old[k]) for k in new):
                raise RuntimeError(f"{loop.__name__} and today's stream disagree")
    gen = make_generator(1)
    users = uni.positives.sample(CHUNK, gen)[0]
    u_np = users.numpy()
    tables = _tables(uni.negatives)
    rows_np, ind_np = uni.positives.rows.numpy(), uni.positives.indices.numpy()
    indptr = uni.negatives.indptr.numpy()

    def neg_alone() -> int:
        for _ in range(-(-target // CHUNK)):
            uni.negatives.sample(users, 1, gen)
        return -(-target // CHUNK) * CHUNK

    def kernel_alone() -> int:
        for i in range(-(-target // CHUNK)):
            sample_negatives(u_np, 1, train.n_items, *tables, i, 2048)
        return -(-target // CHUNK) * CHUNK

    def pos_alone() -> int:
        n = 0
        while n < target:
            n += len(uni.positives.epoch(steps * BATCH, gen)[0])
        return n

    def plain(fn: Callable[..., np.ndarray]) -> Row:
        def run() -> int:
            for _ in range(-(-target // CHUNK)):
                fn(rows_np, ind_np, indptr, train.n_items, CHUNK)
            return -(-target // CHUNK) * CHUNK
        return run

    rows: dict[str, Row] = {
        "recpref stream (uniform, interactions)": stream_row(uni, target),
        "recpref stream (uniform, shuffle)": stream_row(batches(stream="shuffle"), target),
        "recpref stream (popularity^0.75, interactions)": stream_row(batches("popularity"), target),
        "recpref stream without the epoch range check (uniform, interactions)":
            stream_row(batches(), target, unchecked_stream),
        "pre-fix stream (uniform, interactions)": stream_row(batches(), target, prefix_stream),
        "recpref negatives alone (UniformSampler.sample)": neg_alone,
        "recpref negative kernel alone": kernel_alone,
        "recpref positives alone (interactions)": pos_alone,
        "plain numba loop, serial": plain(plain_serial),
        "plain numba loop, prange": plain(plain_parallel),
    }
    if recbole is not None:
        rb_users = recbole.dataset.inter_feat[recbole.dataset.uid_field].numpy()[:BATCH]
        rb_items = recbole.dataset.inter_feat[recbole.dataset.iid_field].numpy()[:BATCH]

        def rb_loader() -> int:
            n = 0
            while n < min(target, train.nnz):  # whole epochs, as its trainer iterates them
                for inter in recbole:
                    n += len(inter)
            return n

        def rb_sampler() -> int:
            reps = -(-min(target, train.nnz) // BATCH)
            for _ in range(reps):
                recbole._sampler.sample_by_user_ids(rb_users, rb_items, 1)
            return reps * BATCH

        rows["RecBole TrainDataLoader (as its Trainer iterates)"] = rb_loader
        rows["RecBole sampler alone (sample_by_user_ids)"] = rb_sampler
    return rows


def measure(rows: dict[str, Row], repeats: int) -> dict[str, list[float]]:
    for run in rows.values():  # warm-up: compilation, caches, first allocations
        run()
    rates: dict[str, list[float]] = {name: [] for name in rows}
    for _ in range(repeats):
        for name, run in rows.items():
            time.sleep(0.05)
            t0 = time.perf_counter()
            n = run()
            rates[name].append(n / (time.perf_counter() - t0))
    return rates


def report(name: str, train: Interactions, rates: dict[str, list[float]], load: tuple[float, float]) -> None:
    med = {k: statistics.median(v) for k, v in rates.items()}
    rb = med.get("RecBole TrainDataLoader (as its Trainer iterates)")
    plain = med["plain numba loop, serial"]
    print(f"\n## {name}: {train.n_users} users x {train.n_items} items, {train.nnz} training pairs; "
          f"load average {load[0]:.2f} before, {load[1]:.2f} after")
    print("| row | triples/s (median) | range | / RecBole loader | / plain loop (serial) |")
    print("|---|---|---|---|---|")
    for k, v in rates.items():
        to_rb = f"{med[k] / rb:.1f}x" if rb else "n/a"
        print(f"| {k} | {med[k] / 1e6:.2f}M | {min(v) / 1e6:.2f}-{max(v) / 1e6:.2f}M | {to_rb} | "
              f"{med[k] / plain:.2f}x |", flush=True)


def load_train(name: str) -> Interactions | None:
    try:
        ds = data_loaders.load(name)
    except data_loaders.DatasetNotFoundError as err:
        print(f"\n## {name}: skipped, not staged ({err})", flush=True)
        return None
    return ds.split().train if {"train", "test"} <= set(ds.splits) else ds.interactions


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", nargs="+", default=["ml-100k", "gowalla"])
    parser.add_argument("--triples", type=int, default=1_000_000, help="triples per row and repeat")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--no-recbole", action="store_true")
    args = parser.parse_args()
    import recbole  # type: ignore[import-untyped]
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
               platform.processor()) if Path("/proc/cpuinfo").exists() else platform.processor()
    print(f"# {time.strftime('%Y-%m-%d %H:%M:%S %Z')}; {platform.system()} {platform.machine()}, {cpu}, "
          f"{os.cpu_count()} CPUs; python {platform.python_version()}, torch {torch.__version__} "
          f"({torch.get_num_threads()} threads), numba {numba.__version__} ({numba.get_num_threads()} threads), "
          f"recbole {recbole.__version__}; OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', 'unset')}")
    git = ["git", "-C", str(Path(__file__).resolve().parents[1])]
    commit = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    measured = ["recpref/sampling", "recpref/kernels/negatives.py", "benchmarks/sampler_throughput.py"]
    status = subprocess.run([*git, "status", "--porcelain", "--", *measured], capture_output=True, text=True).stdout
    dirty = [line[3:] for line in status.splitlines()]
    print(f"# {' '.join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]])} at {commit or 'unknown commit'}"
          f"{' with uncommitted changes to ' + ', '.join(dirty) if dirty else ''}: {args.triples:,} triples per "
          f"row and repeat, median of {args.repeats} repeats, rows interleaved")

    from recpref.benchmarking.recbole_runner import RecBoleBPR

    def body() -> None:
        for name in args.datasets:
            train = load_train(name)
            if train is None:
                continue
            with tempfile.TemporaryDirectory(prefix="recpref-sampler-") as tmp:
                cwd = os.getcwd()
                os.chdir(tmp)  # RecBole may write logs relative to the working directory
                try:
                    loader = None if args.no_recbole else recbole_loader(train, Path(tmp))
                    rows = build_rows(train, args.triples, loader)
                    load0 = os.getloadavg()[0]
                    rates = measure(rows, args.repeats)
                finally:
                    os.chdir(cwd)
                report(name, train, rates, (load0, os.getloadavg()[0]))

    RecBoleBPR()._with_shims(body)  # numpy-2 shims, RecBole's warnings muted, argv hidden


if __name__ == "__main__":
    main()
