"""skbait: BAIT batch active learning for scikit-learn, skorch and modAL."""

from ._engine.bait import bait_select
from ._engine.info import SelectionInfo
from ._engine.planning.cost import measure_rates
from ._query.base import NoLabeledSetWarning, SamplerInfo, Selection
from ._engine.cluster.client import (
    ClusterLostError,
    SchedulerLostError,
    WorkersLostError,
)
from ._query.extractors import (
    extract_features,
    register,
    supported_estimators,
    unregister,
)
from ._query.functions import (
    badge_sampling,
    bait_sampling,
    confidence_sampling,
    coreset_sampling,
    random_sampling,
)
from ._query.samplers import (
    BADGESampler,
    BAITSampler,
    ConfidenceSampler,
    CoresetSampler,
    RandomSampler,
)

__all__ = [
    "bait_select", "measure_rates",
    "bait_sampling", "badge_sampling", "coreset_sampling",
    "confidence_sampling", "random_sampling",
    "BAITSampler", "BADGESampler", "CoresetSampler", "ConfidenceSampler",
    "RandomSampler", "Selection", "SelectionInfo", "SamplerInfo",
    "NoLabeledSetWarning",
    "ClusterLostError", "WorkersLostError", "SchedulerLostError",
    "extract_features", "register", "unregister", "supported_estimators",
]
__version__ = "0.1.0.dev0"
