"""A seconds-long configuration for the end-to-end test of the tree-structured dictionary.

Seven 6×6 atoms in one tree (branching 2, 3 levels), 12 training steps on
the shipped sample. The atoms are no measure of the method.
"""

import ml_collections

from experiments.tree_dictionary.configs import default


def get_config() -> ml_collections.ConfigDict:
    """Returns a configuration with few atoms, steps and patches, on the shipped sample."""
    config = default.get_config()
    config.data.source = "sample"
    config.data.require_full = False
    config.data.patch_size = 6
    config.data.eval_patches = 128
    config.tree.branching = 2
    config.tree.num_levels = 3
    config.train.num_steps = 12
    config.train.batch_size = 32
    config.train.inference_steps = 10
    config.train.tree_weight = 0.5
    config.train.log_every_steps = 4
    config.eval.inference_steps = 20
    config.baseline.l1_weight = 0.5
    config.progress_bar = False
    return config
