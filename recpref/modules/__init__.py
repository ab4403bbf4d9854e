"""Lightning composition: datamodules stream sampled batches, modules combine model + loss."""

from recpref.modules.datamodule import NegativeKind, PreferenceDataModule, SampledBatches
from recpref.modules.mnar import MNARDataModule, MNARLoss, MNARModule, click_rate_among_exposed
from recpref.modules.preference import LossName, OptimizerName, PreferenceModule
from recpref.modules.sequence import SequenceDataModule, SequenceModule

__all__ = ["LossName", "MNARDataModule", "MNARLoss", "MNARModule", "NegativeKind", "OptimizerName",
           "PreferenceDataModule", "PreferenceModule", "SampledBatches", "SequenceDataModule", "SequenceModule",
           "click_rate_among_exposed"]
