"""Lightning composition: datamodules stream sampled batches, modules combine model + loss."""

from recpref.modules.datamodule import NegativeKind, PreferenceDataModule, SampledBatches
from recpref.modules.fused import FusedMFTrainer
from recpref.modules.preference import LossName, OptimizerName, PreferenceModule

__all__ = ["FusedMFTrainer", "LossName", "NegativeKind", "OptimizerName", "PreferenceDataModule", "PreferenceModule", "SampledBatches"]
