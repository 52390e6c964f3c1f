"""Orientation map of a 64 × 64 sheet of local filters on the whitened natural images.

Command (from the repository root, with olshausen/IMAGES.npy in
``$SPARSE_JAX_DATA_DIR``)::

  SPARSE_JAX_DATA_DIR=/path/to/data python -m experiments.pinwheels.main \\
      --config=experiments/pinwheels/configs/default.py

The cortical sheet: 64 × 64 positions with one unit each. Unit (i, j) reads
the 10 × 10 pixel window with corner (i, j) (stride 1) through its own filter,
so the sheet covers 73 × 73 pixels. Each pool is the 5 × 5 window of units
around a position with Gaussian weights (σ = 1.5 units). Three seeds; the
measured spacing, pinwheel density and run time are in docs/results.md.
With group_weight 0.5 (constant rate 1e-2, batch 8) two seeds collapsed to
one dominant, near-horizontal orientation over most of the sheet.
"""

import ml_collections


def get_config() -> ml_collections.ConfigDict:
    """Returns the full-data configuration."""
    config = ml_collections.ConfigDict()
    config.seeds = (0, 1, 2)

    config.data = ml_collections.ConfigDict()
    config.data.source = "auto"  # $SPARSE_JAX_DATA_DIR/olshausen/IMAGES.npy, else the sample
    config.data.require_full = True  # raise instead of training on the 128 × 128 sample

    config.model = ml_collections.ConfigDict()
    config.model.sheet = (64, 64)  # positions (H', W'), one unit each
    config.model.features_per_position = 1  # only 1 is measured by this experiment
    config.model.filter_size = 10  # pixels per side of each receptive field
    config.model.stride = 1  # pixels between neighbouring receptive fields
    config.model.pool_window = 5  # units per side of one pool
    config.model.pool_sigma = 1.5  # Gaussian pool weights, in units; 0: equal weights

    # Loss ½‖x − x̂‖² + group_weight · Σ pools on images scaled to unit pixel variance.
    config.group_weight = 0.4
    config.learning_rate = 1e-2  # Adam, encoder and decoder
    config.cosine_decay = True  # decay the rate to 0 over num_steps on a cosine
    config.batch_size = 16
    config.num_steps = 6000

    # Measurements.
    config.measure = "decoder"  # the filters whose orientation is mapped: decoder or encoder
    config.smoothing_sigma = 1.0  # σ of the low-pass of exp(2iθ), in units
    config.num_blocks = 4  # subregions per side for the within-map density spread

    config.log_every_steps = 100
    config.progress_bar = True
    return config
