"""A seconds-long configuration for the end-to-end test of the topographic-map experiment."""

import ml_collections

from experiments.topographic_map.configs import default


def get_config() -> ml_collections.ConfigDict:
    """Returns a configuration with few units, steps and patches, on the shipped sample."""
    config = default.get_config()
    config.data.source = "sample"
    config.data.patch_size = 6
    config.data.eval_patches = 128
    config.map.side = 4
    config.map.pool_size = 2
    config.map.stride = 1
    config.model.inference_steps = 10
    config.train.num_steps = 12
    config.train.batch_size = 32
    config.train.log_every_steps = 4
    config.train.checkpoint_every_steps = 6
    config.dead.resample_every = 6
    config.dead.min_rate = 0.2
    config.progress_bar = False
    return config
