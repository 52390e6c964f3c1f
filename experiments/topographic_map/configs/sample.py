"""The default topographic map, shortened to about a minute on the shipped crops.

From the repository root::

  python -m experiments.topographic_map.main \\
      --config=experiments/topographic_map/configs/sample.py
"""

import ml_collections

from experiments.topographic_map.configs import default


def get_config() -> ml_collections.ConfigDict:
    """Returns the default configuration on the shipped sample with fewer steps."""
    config = default.get_config()
    config.data.source = "sample"
    config.data.eval_patches = 2048
    config.train.num_steps = 400
    config.dead.resample_every = 100
    return config
