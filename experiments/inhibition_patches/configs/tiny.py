"""A seconds-long configuration for the end-to-end test of the inhibition experiment.

Set ``structure`` to "map" or "none" for the other analyses; the sizes of
all three structures are small here.
"""

import ml_collections

from experiments.inhibition_patches.configs import tree


def get_config() -> ml_collections.ConfigDict:
    """Returns a configuration with few units, steps and patches, on the shipped sample."""
    config = tree.get_config()
    config.data.source = "sample"
    config.data.patch_size = 6
    config.data.eval_patches = 256
    config.tree.num_trees = 2
    config.tree.branching = 2
    config.map.side = 4
    config.map.radius = 1.0
    config.unstructured.num_units = 12
    config.model.inference_steps = 20
    config.train.num_steps = 12
    config.train.batch_size = 32
    config.train.log_every_steps = 4
    config.train.checkpoint_every_steps = 6
    config.figures.num_top_pairs = 4
    config.prune.curve_fractions = (1.0,)
    config.progress_bar = False
    return config
