"""LISTA against FISTA on the shipped MNIST sample (no download), a few minutes on 2 cores.

From the repository root::

  python -m experiments.lista_mnist.main \\
      --config=experiments/lista_mnist/configs/sample.py --workdir=/tmp/lista_sample
"""

import ml_collections

from experiments.lista_mnist.configs import default


def get_config() -> ml_collections.ConfigDict:
    """Returns the sample configuration: 5,000 training and 1,000 test digits."""
    config = default.get_config()
    config.data.source = "sample"
    config.data.require_full = False
    config.data.train_split = "train_full"
    config.lista.epochs = 20
    config.lista.decay_per_epoch = 0.9
    return config
