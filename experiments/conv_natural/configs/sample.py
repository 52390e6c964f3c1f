"""The conv_natural model on the ten 128 × 128 crops shipped with the package.

Command (from the repository root; no data download needed)::

  python -m experiments.conv_natural.main \\
      --config=experiments/conv_natural/configs/sample.py --workdir=/tmp/conv_natural_sample

The crops hold 1/16 of the pixels of the full images, so the atoms are
noisier than with configs/default.py; it is a check that the pipeline runs.
"""

import ml_collections

from experiments.conv_natural.configs import default


def get_config() -> ml_collections.ConfigDict:
    """Returns the sample configuration."""
    config = default.get_config()
    config.data.source = "sample"
    config.data.require_full = False
    config.num_steps = 1000
    return config
