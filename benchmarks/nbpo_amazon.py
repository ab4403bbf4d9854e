"""BPR vs BPO vs NBPO on NBPO's Amazon Electronics split, mean +- std over seeds.

    .venv/bin/python benchmarks/nbpo_amazon.py [--seeds 1 2 3 4 5] [--epochs 200]

Data: `nbpo-amazon` (the official repo's train/validation/test files). Each loss trains an MF
(dim 50, as the official code) with Adam on the train part, keeps the epoch with the best
validation F1@5 (the official selection), and reports F1@K / NDCG@K (K = 5, 20) on
validation *and* on the untouched test part. F1@K is per-user 2PR/(P+R) averaged over users,
NDCG@K binary gain, log2 discount, IDCG over min(|targets|, K); full ranking minus train items.
The official repo's log: NBPO validation F1@5 0.0392, NDCG@5 0.0524 (methods.md section 1.3).
"""

from __future__ import annotations

import argparse
import statistics as st
import time

import data_loaders
from recpref.evaluation import evaluate
from recpref.serving import Recommender

METRICS = ("f1", "ndcg")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--losses", nargs="+", default=["bpr", "bpo", "nbpo"])
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--reg", type=float, default=1e-3)
    parser.add_argument("--reg-flip", type=float, default=1e-3)
    parser.add_argument("--n-neg", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument("--patience", type=int, default=30)
    args = parser.parse_args()
    ds = data_loaders.load("nbpo-amazon")
    train, valid, test = ds.splits["train"], ds.splits["valid"], ds.splits["test"]
    seen_for_test = train  # the official protocol removes train items only
    results: dict[str, list[dict[str, float]]] = {}
    for loss in args.losses:
        for seed in args.seeds:
            rec = Recommender(model="mf", loss=loss, dim=50, epochs=args.epochs, batch_size=args.batch_size,
                              lr=args.lr, reg=args.reg, reg_flip=args.reg_flip, n_neg=args.n_neg, seed=seed,
                              patience=args.patience, monitor="f1", monitor_k=5, flip_dim=50)
            t0 = time.perf_counter()
            rec.fit(train, valid=valid, progress=False)
            secs = time.perf_counter() - t0
            v = evaluate(rec.score_all, train, valid, k=(5, 20), metrics=METRICS).metrics
            # test: train items masked; validation items are not training data for the model
            # but were seen by selection only, so they stay rankable, as in the official code
            t = evaluate(rec.score_all, seen_for_test, test, k=(5, 20), metrics=METRICS).metrics
            epochs = len(rec.history)
            row = {**{f"valid {k}": x for k, x in v.items()}, **{f"test {k}": x for k, x in t.items()},
                   "seconds": secs, "epochs": float(epochs)}
            results.setdefault(loss, []).append(row)
            print(f"{loss:5s} seed {seed}: valid f1@5={v['f1@5']:.4f} ndcg@5={v['ndcg@5']:.4f} | "
                  f"test f1@5={t['f1@5']:.4f} ndcg@5={t['ndcg@5']:.4f} ndcg@20={t['ndcg@20']:.4f} "
                  f"({epochs} epochs, {secs:.1f}s)", flush=True)
    cols = ["valid f1@5", "valid ndcg@5", "test f1@5", "test ndcg@5", "test f1@20", "test ndcg@20"]
    print(f"\n{len(args.seeds)} seeds; settings: {vars(args)}\n")
    print("| loss | " + " | ".join(cols) + " | epochs run | train s |")
    print("|---|" + "---|" * (len(cols) + 2))
    for loss, rows in results.items():
        def ms(key: str) -> str:
            vals = [r[key] for r in rows]
            return f"{st.mean(vals):.4f} +- {st.stdev(vals) if len(vals) > 1 else 0.0:.4f}"
        print(f"| {loss.upper()} | " + " | ".join(ms(c) for c in cols)
              + f" | {st.mean(r['epochs'] for r in rows):.0f} | {st.mean(r['seconds'] for r in rows):.1f} |")


if __name__ == "__main__":
    main()
