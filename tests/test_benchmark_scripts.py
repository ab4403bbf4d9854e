"""Smoke runs of the MNAR benchmark scripts at tiny sizes, so they cannot rot unnoticed.
(The full runs and their numbers are in docs/benchmarks.md.)"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _run(args: list[str]) -> str:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout


def test_semisynthetic_script_prints_both_tables() -> None:
    text = _run(["benchmarks/semisynthetic_ml100k.py", "--seeds", "1", "--steps", "20", "--gap-draws", "2"])
    assert "| model | DCG@1 |" in text and "| estimator | relative gap" in text
    assert text.count("\n| ") >= 9 + 6  # every model row and every estimator row


def test_coat_script_prints_every_row(tmp_path: Path) -> None:
    import data_loaders

    try:
        data_loaders.load("coat")
    except data_loaders.DatasetNotFoundError:
        pytest.skip("coat is not staged under $RECPREF_DATA_DIR")
    plot = tmp_path / "coat.png"
    text = _run(["benchmarks/coat_mnar.py", "--seeds", "2", "--steps", "10", "--plot", str(plot)])
    for name in ("naive MF (BCE)", "WMF", "BPR", "Rel-MF (clipped, M=0.1)", "SNIPS", "DR (given theta)", "UBPR"):
        assert f"| {name} |" in text
    assert plot.stat().st_size > 0


def test_gpu_step_script_runs_on_cpu_and_both_paths_train_alike() -> None:
    text = _run(["benchmarks/gpu_step.py", "--dataset", "ml-100k", "--device", "cpu", "--epochs", "2",
                 "--models", "mf", "--batch-size", "4096"])
    rows = [line.split("|") for line in text.splitlines() if line.startswith("| mf |")]
    assert len(rows) == 2
    assert rows[0][4].strip() == rows[1][4].strip()  # same final train loss, eager and static-buffer paths


def test_many_negatives_step_script_prints_every_loss() -> None:
    text = _run(["benchmarks/many_negatives_step.py", "--dataset", "ml-100k", "--n-neg", "8", "--batch-size", "64",
                 "--repeats", "1", "--losses", "bpr,ssm,ccl,directau"])
    for loss in ("bpr", "ssm", "ccl"):
        assert f"| {loss} | per-positive |" in text and f"| {loss} | shared pool |" in text
    assert "| directau | per-positive |" in text and "| directau | shared pool |" not in text


def test_gowalla_losses_script_tunes_then_refits_from_its_own_log(tmp_path: Path) -> None:
    text = _run(["benchmarks/gowalla_losses.py", "--smoke", "--methods", "als,mf-bpr,mf-ssm"])
    for name in ("als", "mf-bpr", "mf-ssm"):
        assert f"| {name} |" in text and f"## tuning {name}" in text
    log = tmp_path / "tuning.log"
    log.write_text(text)
    again = _run(["benchmarks/gowalla_losses.py", "--smoke", "--methods", "als,mf-bpr,mf-ssm", "--tuning-log", str(log)])
    assert "## tuning" not in again and "chosen by the tuning runs" in again
    rows = lambda t: [line.split("|")[1:5] for line in t.splitlines() if line.startswith("| mf-ssm |")]  # noqa: E731
    assert rows(again) == rows(text)  # same choices and validation score; the refit repeats on test


def _benchmark_module(name: str):  # type: ignore[no-untyped-def]
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import importlib

        return importlib.import_module(name)
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))


def test_tune_extends_edges_and_stops_trying_new_settings_past_its_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    losses = _benchmark_module("gowalla_losses")
    score = {64: 0.10, 128: 0.12, 256: 0.13, 512: 0.11}  # validation NDCG by dim: 256 is interior after one extension
    trained: list[int] = []

    def fake_fit(settings, train, test, valid, max_epochs):  # type: ignore[no-untyped-def]
        trained.append(settings["dim"])
        return dict(recall=0.0, ndcg=score[settings["dim"]], seconds=0.0, epochs=5)

    monkeypatch.setattr(losses, "fit_and_score", fake_fit)
    method = losses.Method("m", dict(model="mf", loss="ssm", dim=64), [("dim", [64, 128])])
    losses.tune(method, None, None, 10, {}, max_extensions=3)
    assert trained == [64, 128, 256, 512] and method.chosen["dim"] == 256 and not method.notes

    trained.clear()
    late = losses.Method("m", dict(model="mf", loss="ssm", dim=64), [("dim", [64, 128, 256])])
    seen = {losses._key("m", {**late.base, "dim": 64}): dict(recall=0.0, ndcg=0.10, seconds=0.0, epochs=5)}
    losses.tune(late, None, None, 10, seen, max_extensions=3, deadline=0.0)  # already past: nothing new trains
    assert trained == [] and late.chosen["dim"] == 64
    assert "time budget spent: dim=128 not tried" in late.notes and "time budget spent: dim=256 not tried" in late.notes

    with pytest.raises(RuntimeError, match="time budget spent before any m setting"):
        losses.tune(losses.Method("m", dict(model="mf", loss="ssm", dim=64), [("dim", [64])]), None, None, 10, {},
                    deadline=0.0)


def test_gpu_target_script_parses_base_and_grid_and_refuses_bad_ones() -> None:
    target = _benchmark_module("gowalla_gpu_target")
    assert target._setting("dim=512") == ("dim", 512) and target._setting("lr=1e-3") == ("lr", 1e-3)
    assert target._grid("reg=0.03,0.1") == ("reg", [0.03, 0.1])
    for bad, fn in (("dim", target._setting), ("=3", target._setting), ("reg=", target._grid)):
        with pytest.raises(ValueError, match="--base|--grid"):
            fn(bad)
    out = subprocess.run([sys.executable, "benchmarks/gowalla_gpu_target.py", "--budget-minutes", "0"], cwd=ROOT,
                         env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and "--budget-minutes must be > 0" in out.stderr
    for args, message in ((["--base", "dimm=3"], "unknown setting(s) ['dimm']"),
                          (["--grid", "temperature=0.8,-1"], "temperature must be"),
                          (["--smoke", "--grid", "dim=8"], "--grid does not apply with --smoke")):
        out = subprocess.run([sys.executable, "benchmarks/gowalla_gpu_target.py", *args], cwd=ROOT,
                             env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=120)
        assert out.returncode == 2 and message in out.stderr, out.stderr[-500:]


def test_gpu_step_script_refuses_loss_flags_the_loss_does_not_take() -> None:
    for args, message in ((["--loss", "bpr", "--temperature", "0.8"], "temperature applies to loss ssm"),
                          (["--loss", "ssm", "--neg-pool", "0"], "neg_pool must be"),
                          (["--epochs", "1"], "--epochs must be >= 2")):
        out = subprocess.run([sys.executable, "benchmarks/gpu_step.py", *args], cwd=ROOT,
                             env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=120)
        assert out.returncode == 2 and message in out.stderr, out.stderr[-500:]


def test_logged_runs_are_kept_apart_by_method() -> None:
    # two methods with the same settings but other epoch budgets must not take each other's runs
    losses = _benchmark_module("gowalla_losses")
    methods = [losses.Method("a", dict(model="mf", loss="ssm"), []), losses.Method("b", dict(model="mf", loss="ssm"), [])]
    lines = ["  a lr=0.001: valid ndcg@20 0.1231 recall@20 0.2153, 23 epochs, 381 s {'lr': 0.001}",
             "  b lr=0.001: valid ndcg@20 0.1033 recall@20 0.1807, 10 epochs (epoch cap), 147 s {'lr': 0.001}"]
    seen = losses.runs_from_logs(lines, methods)
    settings = dict(model="mf", loss="ssm", lr=0.001)
    assert seen[losses._key("a", settings)]["epochs"] == 23 and seen[losses._key("b", settings)]["epochs"] == 10


def test_allocator_effect_script_runs_both_settings_with_the_same_updates() -> None:
    text = _run(["benchmarks/allocator_effect.py", "--dataset", "ml-100k", "--epochs", "1", "--repeats", "1"])
    rows = [line.split("|")[1:-1] for line in text.splitlines() if line.startswith("| 1 |")]
    assert [r[1].strip() for r in rows] == ["1", "0"]
    assert rows[0][3] == rows[1][3]  # the allocator setting must not change the training loss
    out = subprocess.run([sys.executable, "benchmarks/allocator_effect.py", "--epochs", "0"], cwd=ROOT,
                         capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.returncode == 2 and "--epochs and --repeats must be >= 1" in out.stderr


def test_gowalla_losses_fixed_budget_method_trains_its_epochs_without_early_stopping() -> None:
    text = _run(["benchmarks/gowalla_losses.py", "--smoke", "--methods", "als,mf-ssm-wide-decay"])
    run = next(line for line in text.splitlines() if line.startswith("  mf-ssm-wide-decay lr="))
    assert "2 epochs" in run and "'lr_schedule': 'linear'" in run  # the smoke budget, scored at its last epoch
    row = next(line for line in text.splitlines() if line.startswith("| mf-ssm-wide-decay |")).split("|")
    assert row[6].strip() == "2" and "lr_schedule=linear" in row[2]


def test_gowalla_seeds_script_refits_each_choice_per_seed() -> None:
    logs = ["--tuning-log", "docs/results/gowalla_losses_tuning_11.log", "--tuning-log",
            "docs/results/gowalla_losses_tuning_1.log", "--tuning-log", "docs/results/gowalla_losses_tuning_2.log"]
    text = _run(["benchmarks/gowalla_seeds.py", "--smoke", "--methods", "als,mf-ssm-wide-decay", "--seeds", "0,1",
                 *logs])
    for name in ("als", "mf-ssm-wide-decay"):
        assert sum(line.startswith(f"| {name} | ") for line in text.splitlines()) == 3  # two seeds + the summary
        assert any(line.startswith(f"| {name} | 2 | ") and "+-" in line for line in text.splitlines())
    bad = subprocess.run([sys.executable, "benchmarks/gowalla_seeds.py", "--seeds", "0,0", *logs], cwd=ROOT,
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "--seeds must be distinct integers >= 0" in bad.stderr


def test_amazon_sequences_script_prints_each_model_and_the_published_rows() -> None:
    import data_loaders
    from data_loaders._core import DatasetNotFoundError

    try:
        data_loaders.load("amazon-beauty", verify=False)
    except DatasetNotFoundError:
        pytest.skip("amazon-beauty not staged; set RECPREF_DATA_DIR to the shared datasets directory")
    text = _run(["benchmarks/amazon_sequences.py", "--smoke", "--models", "mean,comirec-sa"])
    assert "| recpref mean |" in text and "| recpref comirec-sa |" in text
    assert "| SASRec (published, TIGER paper) | 0.0387 | 0.0605 | 0.0249 | 0.0318 |" in text
    bad = subprocess.run([sys.executable, "benchmarks/amazon_sequences.py", "--models", "gru"], cwd=ROOT,
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "--models: unknown ['gru']" in bad.stderr


def test_sequence_epoch_time_script_prints_a_row_per_tool_and_the_ratio() -> None:
    import data_loaders
    from data_loaders._core import DatasetNotFoundError

    try:
        data_loaders.load("amazon-beauty", verify=False)
    except DatasetNotFoundError:
        pytest.skip("amazon-beauty not staged; set RECPREF_DATA_DIR to the shared datasets directory")
    text = _run(["benchmarks/sequence_epoch_time.py", "--smoke", "--epochs", "1", "--rows",
                 "recpref:mean,recpref:sasrec-nobuckets,recpref:sasrec-full,recbole:GRU4Rec,rechub:comirec-sa",
                 "--row-epochs", "rechub:comirec-sa=2", "--reference", "recpref:mean"])
    assert "| recpref sasrec (full softmax) | recpref | CE, full catalogue |" in text
    for row in ("| recpref mean | recpref |", "| recpref sasrec (no buckets) |", "| RecBole GRU4Rec |",
                "| torch-rechub comirec-sa (fair) |"):
        assert row in text
    assert "| recpref mean | recpref | pool of 1000 (log-Q) |" in text and "| 1.00x |" in text
    assert "rechub:comirec-sa: 2" in text
    bad = subprocess.run([sys.executable, "benchmarks/sequence_epoch_time.py", "--rows", "recbole:BERT4Rec"], cwd=ROOT,
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "--rows: unknown ['recbole:BERT4Rec']" in bad.stderr


def test_amazon_peers_script_prints_every_tool_and_the_seed_spread() -> None:
    import data_loaders
    from data_loaders._core import DatasetNotFoundError

    try:
        data_loaders.load("amazon-beauty", verify=False)
    except DatasetNotFoundError:
        pytest.skip("amazon-beauty not staged; set RECPREF_DATA_DIR to the shared datasets directory")
    text = _run(["benchmarks/amazon_peers.py", "--smoke", "--seeds", "0,1", "--rows",
                 "recpref:mean,recbole:GRU4Rec,rechub:mind:fair"])
    for row in ("| recpref mean | recpref |", "| RecBole GRU4Rec |", "| torch-rechub mind (fair) |",
                "| TIGER (published, TIGER paper) | - | 0.0454 |"):
        assert row in text
    assert text.count("seed 0: training") == 3 and text.count("seed 1: training") == 3
    assert " ± " in text  # two seeds: mean ± std cells
    bad = subprocess.run([sys.executable, "benchmarks/amazon_peers.py", "--rows", "recpref:gru"], cwd=ROOT,
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "--rows: unknown ['recpref:gru']" in bad.stderr


def test_amazon_comirec_script_prints_the_three_tables_and_checks_lambda_zero() -> None:
    import data_loaders
    from data_loaders._core import DatasetNotFoundError

    try:
        data_loaders.load("amazon-beauty", verify=False)
    except DatasetNotFoundError:
        pytest.skip("amazon-beauty not staged; set RECPREF_DATA_DIR to the shared datasets directory")
    text = _run(["benchmarks/amazon_comirec.py", "--smoke", "--seeds", "0", "--rows", "mean,comirec-sa,comirec-dr",
                 "--peers", "off", "--k-sweep", "1,4", "--k-models", "comirec-sa", "--lambdas", "0,0.25"])
    assert "| row | tool | Recall@20 | Recall@50 | HR@20 | HR@50 | NDCG@50 | Diversity@50 | epochs | train s |" in text
    for row in ("| recpref mean | recpref |", "| recpref comirec-sa | recpref |", "| recpref comirec-dr | recpref |"):
        assert row in text
    assert "| model | K | Recall@50 | HR@50 | Diversity@50 | epochs | train s |" in text
    assert "| recpref comirec-sa | 1 |" in text and "| recpref comirec-sa | 4 (Table 1) |" in text
    assert "| lambda | comirec-sa Recall@50 | comirec-sa HR@50 | comirec-sa Diversity@50 | comirec-dr Recall@50" in text
    assert "\n| 0 | " in text and "\n| 0.25 | " in text
    assert text.count("lambda 0 vs Table 1") == 2 and text.count("(equal)") == 2
    assert "Recall@N = |top-N ∩ targets| / |targets|" in text
    bad = subprocess.run([sys.executable, "benchmarks/amazon_comirec.py", "--k-sweep", "0"], cwd=ROOT,
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "--k-sweep: distinct integers >= 1" in bad.stderr


def test_hcn_coarse_rank_script_prints_the_retriever_and_the_reranked_rows() -> None:
    import data_loaders
    from data_loaders._core import DatasetNotFoundError

    try:
        data_loaders.load("amazon-beauty", verify=False)
    except DatasetNotFoundError:
        pytest.skip("amazon-beauty not staged; set RECPREF_DATA_DIR to the shared datasets directory")
    text = _run(["benchmarks/hcn_coarse_rank.py", "--smoke", "--candidates", "50"])
    for row in ("| comirec-sa (retriever, full ranking) |", "| hcn (retriever, full ranking) |",
                "| comirec-sa top-50 re-ranked by hcn, attention pooling |",
                "| comirec-sa top-50 re-ranked by hcn, max pooling |"):
        assert row in text
    assert "recall@50 of the comirec-sa retriever (the re-rankers' ceiling)" in text
    bad = subprocess.run([sys.executable, "benchmarks/hcn_coarse_rank.py", "--candidates", "0"], cwd=ROOT,
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "--candidates must be >= 1" in bad.stderr
