"""2-D map structure: 144 units on a 12×12 torus inhibit all but their neighbours.

From the repository root; add ``SPARSE_JAX_DATA_DIR=/path/to/data``, the folder
that contains ``olshausen/``, for the full images::

  python -m experiments.inhibition_patches.main \\
      --config=experiments/inhibition_patches/configs/map.py

Units within wrap-around distance 1.5 (the 8 nearest) may be active
together; every other pair may inhibit. The run reports the mean |cosine|
between neighbouring atoms against all pairs and draws the atoms in map
order. A few minutes on 2 CPU cores; results are in docs/results.md.
"""

import ml_collections

from experiments.inhibition_patches.configs import tree


def get_config() -> ml_collections.ConfigDict:
    """Returns the 2-D map configuration."""
    config = tree.get_config()
    config.structure = "map"
    config.model.inference_steps = 200
    config.train.num_steps = 2000
    return config
