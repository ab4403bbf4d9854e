"""recpref: learning user preferences from implicit feedback.

Submodules: `recpref.data` (interactions, splits), `recpref.evaluation` (full-ranking and
candidate-list metrics), `recpref.baselines` (non-trained scorers), `recpref.benchmarking`
(side-by-side peer runs). Public datasets live in the sibling package `data_loaders`.
"""

__version__ = "0.1.0"
