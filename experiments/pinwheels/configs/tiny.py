"""A seconds-long pinwheel run for the end-to-end tests.

Command (from the repository root)::

  python -m experiments.pinwheels.main \\
      --config=experiments/pinwheels/configs/tiny.py --workdir=/tmp/pinwheels_tiny

Expected result: it finishes in seconds and writes every output file; a
12 × 12 sheet trained for 20 steps has no meaningful map.
"""

import ml_collections

from experiments.pinwheels.configs import default


def get_config() -> ml_collections.ConfigDict:
    """Returns the tiny configuration."""
    config = default.get_config()
    config.seeds = (0, 1)
    config.data.source = "sample"
    config.data.require_full = False
    config.model.sheet = (12, 12)
    config.model.filter_size = 6
    config.model.pool_window = 3
    config.model.pool_sigma = 1.0
    config.batch_size = 4
    config.num_steps = 20
    config.num_blocks = 2
    config.log_every_steps = 5
    config.progress_bar = False
    return config
