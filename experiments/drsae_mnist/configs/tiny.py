"""A seconds-long DrSAE run for the end-to-end tests: 16 units, T = 3, 64 sample images.

Command (from the repository root)::

  python -m experiments.drsae_mnist.main \\
      --config=experiments/drsae_mnist/configs/tiny.py --workdir=/tmp/drsae_tiny

Expected result: it finishes in a few seconds and writes every output file.
With 16 units and 4 epochs of 4 steps, its error rate says nothing about the
method.
"""

import ml_collections

from experiments.drsae_mnist.configs import default


def get_config() -> ml_collections.ConfigDict:
    """Returns the tiny configuration."""
    config = default.get_config()
    config.data.source = "sample"
    config.data.require_full = False
    config.data.train_limit = 64
    config.data.validation_limit = 32
    config.data.test_limit = 32
    config.model.num_units = 16
    config.model.num_steps = 3
    config.batch_size = 16
    config.num_epochs = 4
    config.autoencoder_epochs = 2
    config.patience_epochs = 0
    config.learning_rate_schedule = "exponential"
    config.learning_rate = 3e-3
    config.eval_batch_size = 32
    config.log_every_steps = 2
    config.progress_bar = False
    config.num_figure_units = 16
    return config
