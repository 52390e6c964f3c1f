"""DrSAE on the shipped MNIST sample: 4,000 training, 1,000 validation and 1,000 test images.

The first command of the README; it needs no download. From the repository root::

  python -m experiments.drsae_mnist.main \\
      --config=experiments/drsae_mnist/configs/sample.py \\
      --workdir=/tmp/drsae_sample

Expected result: 6.30 % test error (63 of 1,000) with the best validation
error, 6.10 %, at step 1674 of 1860 (30 epochs). The run took 42 s of wall
time on 2 CPU cores (jax 0.10.2). The training-batch error is near 0 from
about epoch 12 on, while the validation error stays near 6 %.
"""

import ml_collections

from experiments.drsae_mnist.configs import default


def get_config() -> ml_collections.ConfigDict:
    """Returns the sample configuration: the full model on the shipped sample."""
    config = default.get_config()
    config.data.source = "sample"
    config.data.require_full = False
    config.batch_size = 64
    config.learning_rate_schedule = "exponential"
    config.learning_rate_decay = 0.95
    config.num_epochs = 30
    config.autoencoder_epochs = 2
    config.patience_epochs = 0
    config.eval_batch_size = 500
    config.log_every_steps = 50
    return config
