"""``isobound experiment``: train, measure and bound end to end, then report.

The Python API behind the command::

    from isobound_torch.experiment import ExperimentConfig, run
    result = run(ExperimentConfig(dataset="digits", run_dir="runs/digits"))
    print(result.table)

See :class:`ExperimentConfig` for every setting and :func:`run` for what happens.
"""

from .config import DATASET_DEFAULTS, ExperimentConfig
from .pipeline import ExperimentResult, run
from .stages import StageRecord

__all__ = ["ExperimentConfig", "ExperimentResult", "StageRecord", "DATASET_DEFAULTS", "run"]
