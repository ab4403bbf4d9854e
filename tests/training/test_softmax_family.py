"""The softmax-family losses (ssm, ccl, directau) through the training core and the CLI: their
settings are validated where given and belong to one loss each."""

from __future__ import annotations

import pytest

from recpref.cli import main
from recpref.training import PairwiseConfig, settings_from_flat


@pytest.mark.parametrize(("settings", "message"), [
    ({"loss": "ssm", "temperature": 0.0}, r"temperature must be a finite number in \(0"),
    ({"loss": "ssm", "temperature": float("inf")}, "temperature must be a finite number"),
    ({"loss": "ccl", "margin": 1.5}, r"margin must be a finite number in \[-1, 1\]"),
    ({"loss": "ccl", "negative_weight": -1.0}, "negative_weight must be a finite number in"),
    ({"loss": "directau", "gamma": -0.1}, "gamma must be a finite number in"),
    ({"loss": "ccl", "n_neg": 0}, "n_neg must be an integer >= 1"),
    ({"loss": "bpr", "temperature": 0.5}, "temperature applies to loss ssm, not 'bpr'"),
    ({"loss": "ssm", "margin": 0.7}, "margin applies to loss ccl, not 'ssm'"),
    ({"loss": "ccl", "gamma": 2.0}, "gamma applies to loss directau, not 'ccl'"),
])
def test_settings_are_validated_when_given(settings: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        settings_from_flat(**settings)


def test_softmax_losses_go_to_lightning_not_the_fused_kernel() -> None:
    from recpref.training import ModelConfig, choose_engine

    for loss in ("ssm", "ccl", "directau"):
        assert choose_engine(ModelConfig("mf"), PairwiseConfig(loss=loss), accelerator="cpu") == "lightning"  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="engine 'fused' trains MF with loss bpr or bpo"):
        PairwiseConfig(loss="ccl", engine="fused")


def test_cli_trains_ccl_with_many_negatives(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["train", "--loss", "ccl", "--n-neg", "200", "--margin", "0.5", "--epochs", "1", "--dim", "8",
                 "--batch-size", "4096", "--valid-ratio", "0", "--no-progress"])
    assert code == 0
    out = capsys.readouterr().out
    assert "test: recall@10=" in out


def test_cli_names_the_flag_of_a_bad_softmax_setting(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["train", "--loss", "ccl", "--margin", "2", "--no-progress"])
    assert exc.value.code == 2 and "--margin" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["train", "--loss", "relmf", "--temperature", "0.1", "--no-progress"])
    assert "--temperature applies to the softmax-family losses" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["train", "--loss", "als", "--no-pool-mask", "--no-progress"])
    assert "--no-pool-mask applies to the shared negative pool" in capsys.readouterr().err


def test_a_softmax_family_model_saves_and_loads_with_its_settings(tmp_path: object) -> None:
    from pathlib import Path

    import numpy as np
    import torch

    from recpref.data import Interactions
    from recpref.serving import Recommender

    rng = np.random.default_rng(0)
    u, i = np.nonzero(rng.random((30, 25)) < 0.3)
    data = Interactions.from_indices(u, i, n_users=30, n_items=25)
    rec = Recommender(loss="ssm", temperature=0.2, n_neg=16, dim=8, epochs=2, batch_size=64).fit(data, progress=False)
    again = Recommender.load(rec.save(Path(str(tmp_path)) / "ssm"))
    assert again.config.loss == "ssm" and again.config.temperature == 0.2 and again.config.n_neg == 16
    assert torch.equal(rec.score_all(torch.arange(30)), again.score_all(torch.arange(30)))
