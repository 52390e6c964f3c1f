"""A seconds-long configuration for the end-to-end test of the LISTA experiment."""

import ml_collections

from experiments.lista_mnist.configs import sample


def get_config() -> ml_collections.ConfigDict:
    """Returns a configuration with few atoms, few examples and short curves."""
    config = sample.get_config()
    config.data.train_limit = 512
    config.data.eval_limit = 128
    config.dictionary.num_atoms = 32
    config.dictionary.epochs = 1
    config.dictionary.fista_steps = 10
    config.targets.max_steps = 2000
    config.lista.num_steps = (1, 3)
    config.lista.epochs = 2
    config.curve_steps = 50
    config.log_every_steps = 2
    return config
