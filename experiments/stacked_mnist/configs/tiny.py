"""A seconds-long run of the stacked comparison for the end-to-end tests.

Command (from the repository root)::

  python -m experiments.stacked_mnist.main \\
      --config=experiments/stacked_mnist/configs/tiny.py --workdir=/tmp/stacked_tiny

Expected result: it finishes in well under a minute on the shipped sample and
writes every output file; the errors are no measure of the method (4 and 8
maps, a few dozen steps).
"""

import ml_collections

from experiments.stacked_mnist.configs import default


def get_config() -> ml_collections.ConfigDict:
    """Returns the tiny configuration."""
    config = default.get_config()
    config.seeds = (0, 1)
    config.label_counts = (20, 100)
    config.data.source = "sample"
    config.data.require_full = False
    for layer, features in ((config.layer1, 4), (config.layer2, 8)):
        layer.model.num_features = features
        layer.num_steps = 10
        layer.batch_size = 16
    config.finetune.num_steps = 10
    config.finetune.batch_size = 16
    config.eval_batch_size = 500
    config.log_every_steps = 5
    config.progress_bar = False
    return config
