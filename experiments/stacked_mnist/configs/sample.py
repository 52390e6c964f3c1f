"""The stacked comparison on the shipped MNIST sample (5,000 training, 1,000 test images).

Command (from the repository root; no data download needed)::

  python -m experiments.stacked_mnist.main \\
      --config=experiments/stacked_mnist/configs/sample.py --workdir=/tmp/stacked_sample

The architecture of configs/default.py with 50 and 500 labelled examples (1 %
and 10 % of the sample) and all 5,000, one seed and shorter training.
"""

import ml_collections

from experiments.stacked_mnist.configs import default


def get_config() -> ml_collections.ConfigDict:
    """Returns the sample configuration."""
    config = default.get_config()
    config.seeds = (0,)
    config.label_counts = (50, 500, 5000)
    config.data.source = "sample"
    config.data.require_full = False
    config.layer1.num_steps = 500
    config.layer2.num_steps = 500
    config.finetune.num_steps = 500
    return config
