"""The pinwheel experiment on the ten 128 × 128 crops shipped with the package.

Command (from the repository root; no data download needed)::

  python -m experiments.pinwheels.main \\
      --config=experiments/pinwheels/configs/sample.py --workdir=/tmp/pinwheels_sample

The default 64 × 64 sheet reads 73 × 73 pixels, which fits in the crops. The
crops hold 1/16 of the full pixels, so the filters see fewer distinct
patches: it checks the pipeline and is no replacement for configs/default.py.
"""

import ml_collections

from experiments.pinwheels.configs import default


def get_config() -> ml_collections.ConfigDict:
    """Returns the sample configuration."""
    config = default.get_config()
    config.data.source = "sample"
    config.data.require_full = False
    config.seeds = (0,)
    return config
