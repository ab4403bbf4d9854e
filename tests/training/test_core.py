"""The training core: every public name is implemented and vice versa, the engine rule, the typed
configs, and fits without side effects on the caller's process."""

from __future__ import annotations

import logging
import subprocess
import sys

import numpy as np
import pytest
import torch

from recpref import catalog
from recpref.data import Interactions
from recpref.training import MNARConfig, ModelConfig, PairwiseConfig, choose_engine, fit, settings_from_flat


def _data() -> Interactions:
    rng = np.random.default_rng(0)
    u, i = np.nonzero(rng.random((30, 20)) < 0.3)
    return Interactions.from_indices(u, i, n_users=30, n_items=20)


def test_every_public_name_has_exactly_one_implementation() -> None:
    from recpref.benchmarking.registry import RUNNERS
    from recpref.modules.objectives import MNAR_OBJECTIVES, PAIRWISE_OBJECTIVES
    from recpref.training.encoders import ENCODERS

    assert set(PAIRWISE_OBJECTIVES) == set(catalog.PAIRWISE_LOSSES)
    assert set(catalog.MNAR_LOSSES) <= set(MNAR_OBJECTIVES) <= set(catalog.MNAR_LOSSES) | {"bpr"}
    assert set(ENCODERS) == set(catalog.MODELS) - set(catalog.LLM_MODELS)  # llm: recpref.llm.sprec (test_cli_llm)
    from recpref.cli import DEFAULT_MODELS, build_parser

    assert set(DEFAULT_MODELS) <= set(RUNNERS)
    train = next(a for a in build_parser()._subparsers._group_actions[0].choices["train"]._actions  # type: ignore[union-attr]
                 if a.dest == "loss")
    assert tuple(train.choices) == catalog.LOSSES  # the CLI's choices come from the catalog


def test_settings_route_to_one_family_and_refuse_foreign_ones() -> None:
    model, cfg = settings_from_flat(loss="nbpo", dim=8, flip_dim=4)
    assert isinstance(cfg, PairwiseConfig) and model.dim == 8 and cfg.flip_dim == 4
    model, cfg = settings_from_flat(loss="relmf", clip=0.1)
    assert isinstance(cfg, MNARConfig) and cfg.clip == 0.1
    with pytest.raises(ValueError, match=r"\['clip'\] apply to the MNAR losses"):
        settings_from_flat(loss="bpr", clip=0.1)
    with pytest.raises(ValueError, match=r"\['n_neg'\] apply to the pairwise losses"):
        settings_from_flat(loss="relmf", n_neg=3)
    with pytest.raises(ValueError, match="flip_dim and reg_flip apply to the NBPO losses only"):
        settings_from_flat(loss="bpr", flip_dim=4)
    with pytest.raises(ValueError, match="nonneg applies to loss ubpr"):
        settings_from_flat(loss="relmf", nonneg=0.1)
    with pytest.raises(TypeError, match="unknown setting"):
        settings_from_flat(loss="bpr", learning_rate=0.1)
    with pytest.raises(ValueError, match="lr must be a finite number"):
        PairwiseConfig(lr=float("nan"))
    with pytest.raises(ValueError, match="patience must be an integer >= 1"):
        MNARConfig(patience=0)


def test_one_engine_rule() -> None:
    mf, lightgcn = ModelConfig("mf"), ModelConfig("lightgcn")
    assert choose_engine(mf, PairwiseConfig(), accelerator="cpu") == "fused"
    assert choose_engine(mf, PairwiseConfig(engine="lightning"), accelerator="cpu") == "lightning"
    assert choose_engine(mf, PairwiseConfig(loss="nbpo"), accelerator="cpu") == "lightning"
    assert choose_engine(mf, PairwiseConfig(optimizer="sgd"), accelerator="cpu") == "lightning"
    assert choose_engine(lightgcn, PairwiseConfig(), accelerator="cpu") == "lightning"
    assert choose_engine(mf, PairwiseConfig(), accelerator="gpu") == "lightning"
    assert choose_engine(mf, PairwiseConfig(), accelerator="cpu", devices=2) == "lightning"
    assert choose_engine(mf, MNARConfig(), accelerator="cpu") == "lightning"
    with pytest.raises(ValueError, match="engine 'fused' trains model mf only"):
        choose_engine(lightgcn, PairwiseConfig(engine="fused"), accelerator="cpu")
    with pytest.raises(ValueError, match="engine 'fused' runs on one CPU"):
        choose_engine(mf, PairwiseConfig(engine="fused"), accelerator="gpu")


@pytest.mark.parametrize("engine", ["fused", "lightning"])
def test_fit_leaves_the_callers_rng_and_logging_alone_and_is_quiet(engine: str, capsys: pytest.CaptureFixture[str],
                                                                    caplog: pytest.LogCaptureFixture) -> None:
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    levels = {name: logging.getLogger(name).level for name in ("", "lightning.pytorch", "lightning")}
    with caplog.at_level(logging.INFO):
        result = fit(ModelConfig("mf", dim=4), PairwiseConfig(epochs=2, batch_size=32, engine=engine), _data(),
                     accelerator="cpu")
    assert torch.equal(torch.rand(3), expected)  # the global generator did not move
    assert {name: logging.getLogger(name).level for name in levels} == levels
    out = capsys.readouterr()
    text = out.out + out.err + caplog.text
    for banner in ("GPU available", "TPU available", "Tip", "litlogger", "LeafSpec"):
        assert banner not in text
    assert result.engine == engine and len(result.history) == 2


def test_same_seed_same_weights_and_different_seed_differs() -> None:
    cfg = PairwiseConfig(epochs=2, batch_size=32, seed=5)
    a = fit(ModelConfig("mf", dim=4), cfg, _data(), accelerator="cpu").encoder.state_dict()
    b = fit(ModelConfig("mf", dim=4), cfg, _data(), accelerator="cpu").encoder.state_dict()
    from dataclasses import replace

    c = fit(ModelConfig("mf", dim=4), replace(cfg, seed=6), _data(), accelerator="cpu").encoder.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)


def test_fit_refuses_bad_inputs() -> None:
    other = Interactions.from_indices([0], [0], n_users=2, n_items=2)
    with pytest.raises(ValueError, match="valid has shape"):
        fit(ModelConfig(), PairwiseConfig(), _data(), other)
    with pytest.raises(ValueError, match="exposure applies to loss 'dr' only"):
        fit(ModelConfig(), MNARConfig(loss="naive"), _data(), exposure=_data())


def test_cli_help_and_datasets_import_no_torch() -> None:
    code = ("import sys; from recpref.cli import build_parser, main; build_parser().format_help(); "
            "main(['datasets', '--no-verify']); "
            "import recpref.training, recpref.benchmarking; assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True)
