"""``lr_schedule="linear"``: every optimiser step of a fit runs at lr * (1 - t / total_steps), the
setting is validated where it is given, and the CLI passes it through."""

from __future__ import annotations

import pytest
import torch

import data_loaders
from recpref.cli import main
from recpref.data import random_split
from recpref.models import MF
from recpref.modules import PreferenceModule
from recpref.modules.optim import RowSparseAdam
from recpref.serving import Recommender


def _rates_of_a_fit(monkeypatch: pytest.MonkeyPatch, **settings: object) -> list[float]:
    seen: list[float] = []
    real_step = RowSparseAdam.step

    def spy(self: RowSparseAdam, closure: object = None) -> object:
        seen.append(self.param_groups[0]["lr"])
        return real_step(self, closure)  # type: ignore[arg-type]

    monkeypatch.setattr(RowSparseAdam, "step", spy)
    train = random_split(data_loaders.load("ml-100k").interactions, test_ratio=0.2, seed=0).train
    Recommender(model="mf", loss="ssm", neg_pool=50, dim=8, lr=0.01, patience=None, batch_size=8192,
                **settings).fit(train, progress=False)  # type: ignore[arg-type]
    return seen


@pytest.mark.parametrize("optimizer", ["adam", "lazy_adam"])
def test_linear_schedule_decays_every_step_of_the_fit_to_zero(monkeypatch: pytest.MonkeyPatch, optimizer: str) -> None:
    rates = _rates_of_a_fit(monkeypatch, epochs=3, lr_schedule="linear", optimizer=optimizer)
    steps = len(rates)
    assert steps == 3 * 10  # 80k train interactions / 8192 per step = 10 steps per epoch
    torch.testing.assert_close(torch.tensor(rates, dtype=torch.float64), 0.01 * (1 - torch.arange(steps, dtype=torch.float64) / steps))


def test_constant_schedule_keeps_the_rate(monkeypatch: pytest.MonkeyPatch) -> None:
    assert set(_rates_of_a_fit(monkeypatch, epochs=2)) == {0.01}


def test_lr_schedule_is_validated_where_given() -> None:
    with pytest.raises(ValueError, match="lr_schedule must be one of constant, linear; got 'cosine'"):
        Recommender(model="mf", loss="bpr", lr_schedule="cosine")
    with pytest.raises(ValueError, match="engine 'fused' .* lr_schedule constant only"):
        Recommender(model="mf", loss="bpr", lr_schedule="linear", engine="fused")
    assert Recommender(model="mf", loss="bpr", lr_schedule="linear").config.flat()["lr_schedule"] == "linear"
    with pytest.raises(ValueError, match="lr_schedule 'linear' needs total_steps"):
        PreferenceModule(MF(3, 4, 2), lr_schedule="linear")
    with pytest.raises(ValueError, match="total_steps must be an integer >= 1"):
        PreferenceModule(MF(3, 4, 2), lr_schedule="linear", total_steps=0)
    with pytest.raises(ValueError, match="total_steps applies to lr_schedule 'linear' only"):
        PreferenceModule(MF(3, 4, 2), total_steps=10)
    with pytest.raises(ValueError, match="not 'graph'"):
        PreferenceModule(MF(3, 4, 2), lr_schedule="linear", total_steps=10, step_mode="graph")


def test_cli_passes_and_checks_the_schedule_flags(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["train", "--dataset", "ml-100k", "--loss", "ssm", "--neg-pool", "50", "--optimizer", "lazy_adam",
                 "--lr-schedule", "linear", "--epochs", "1", "--batch-size", "8192", "--no-progress"])
    assert code == 0 and "test: recall@10=" in capsys.readouterr().out
    for argv, flag in ((["--loss", "als", "--lr-schedule", "linear"], "--lr-schedule"),
                       (["--loss", "relmf", "--dataset", "coat", "--optimizer", "sgd"], "--optimizer"),
                       (["--loss", "ssm", "--optimizer", "lazy_adam"], "--optimizer")):
        with pytest.raises(SystemExit) as exc:
            main(["train", "--epochs", "1", "--no-progress", *argv])
        assert exc.value.code == 2
        err = capsys.readouterr().err
        assert flag in err and "Traceback" not in err
