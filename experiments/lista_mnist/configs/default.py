"""LISTA against FISTA on full MNIST (needs SPARSE_JAX_DATA_DIR).

From the repository root::

  SPARSE_JAX_DATA_DIR=/path/to/data python -m experiments.lista_mnist.main \\
      --config=experiments/lista_mnist/configs/default.py --workdir=/tmp/lista_mnist

It learns a 256-atom lasso dictionary on the 50,000 training digits, computes
the optimal codes with FISTA, trains LISTA with T = 1, 2, 3, 5 and 10 steps to
regress them, and counts how many FISTA steps reach the objective of each
trained LISTA on the 10,000 test digits. Results and timings are recorded in
docs/results.md.
"""

import ml_collections


def get_config() -> ml_collections.ConfigDict:
    """Returns the full-MNIST configuration."""
    config = ml_collections.ConfigDict()
    config.seed = 0

    config.data = ml_collections.ConfigDict()
    config.data.source = "auto"
    config.data.require_full = True
    config.data.train_split = "train"
    config.data.train_limit = 0  # 0: the whole split
    config.data.eval_split = "test"
    config.data.eval_limit = 0

    config.dictionary = ml_collections.ConfigDict()
    config.dictionary.num_atoms = 256
    config.dictionary.l1_weight = 0.5  # on [0, 1] pixels, about 9 % active codes
    config.dictionary.epochs = 3
    config.dictionary.batch_size = 256
    config.dictionary.fista_steps = 50
    config.dictionary.learning_rate = 1e-3

    config.targets = ml_collections.ConfigDict()
    config.targets.tol = 1e-4  # relative duality gap of the optimal codes
    config.targets.max_steps = 20000
    config.targets.chunk_size = 2500

    config.lista = ml_collections.ConfigDict()
    config.lista.num_steps = (1, 2, 3, 5, 10)
    config.lista.nonneg = False
    config.lista.epochs = 10
    config.lista.batch_size = 128
    config.lista.learning_rate = 1e-3
    config.lista.decay_per_epoch = 0.8

    config.curve_steps = 1000  # FISTA and ISTA steps recorded for the comparison
    config.log_every_steps = 100
    return config
