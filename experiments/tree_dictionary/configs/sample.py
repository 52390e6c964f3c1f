"""The tree-structured dictionary on the ten 128×128 crops shipped with the package.

Command (from the repository root; no data download needed)::

  python -m experiments.tree_dictionary.main \\
      --config=experiments/tree_dictionary/configs/sample.py \\
      --workdir=/tmp/tree_dictionary_sample

Same model as configs/default.py with 1,500 training steps instead of 5,000.
The crops hold 1/16 of the pixels of the full images, so the run mainly
checks that the pipeline works. It took 37 s on 2 shared CPU cores.
"""

import ml_collections

from experiments.tree_dictionary.configs import default


def get_config() -> ml_collections.ConfigDict:
    """Returns the sample configuration."""
    config = default.get_config()
    config.data.source = "sample"
    config.data.require_full = False
    config.train.num_steps = 1500
    return config
