"""A seconds-long conv_natural run for the end-to-end tests.

Command (from the repository root)::

  python -m experiments.conv_natural.main \\
      --config=experiments/conv_natural/configs/tiny.py --workdir=/tmp/conv_natural_tiny

Expected result: it finishes in seconds and writes every output file; the
atoms are no measure of the method (4 maps, 20 steps on 24 × 24 crops).
"""

import ml_collections

from experiments.conv_natural.configs import default


def get_config() -> ml_collections.ConfigDict:
    """Returns the tiny configuration."""
    config = default.get_config()
    config.data.source = "sample"
    config.data.require_full = False
    config.model.num_features = 4
    config.model.kernel_size = 5
    config.crop_size = 24
    config.batch_size = 4
    config.num_steps = 20
    config.eval_crops = 8
    config.log_every_steps = 5
    config.checkpoint_every_steps = 10
    config.progress_bar = False
    return config
