"""Topographic map: PSD with 256 units on a 16×16 torus, 6×6 pools at stride 2.

From the repository root, on the ten full 512×512 whitened images::

  SPARSE_JAX_DATA_DIR=/path/to/data python -m experiments.topographic_map.main \\
      --config=experiments/topographic_map/configs/default.py

Without ``SPARSE_JAX_DATA_DIR`` the same command runs on the shipped crops.
Each unit lies in (6/2)² = 9 pools. Codes z* are inferred per 12×12 patch
under the exact torus penalty, with the primal–dual iteration of
``groups.overlapping_group_lasso``. The dictionary learns to reconstruct
from z*, and the encoder learns to predict it. Results are in
docs/results.md.
"""

import ml_collections


def get_config() -> ml_collections.ConfigDict:
    """Returns the default configuration; the other configurations start from it."""
    config = ml_collections.ConfigDict()
    config.seed = 0

    config.data = ml_collections.ConfigDict()
    config.data.source = "auto"  # the full images with SPARSE_JAX_DATA_DIR, else the sample
    config.data.require_full = False
    config.data.patch_size = 12
    config.data.eval_patches = 8192

    config.model = ml_collections.ConfigDict()
    config.model.mode = "psd"  # "psd", "direct" or "dictionary" (the L1 baseline)
    config.model.penalty = "torus"  # "torus" or "l1"
    # Solver steps for z* (PSD: FISTA, or primal-dual for the torus) or the lasso codes.
    config.model.inference_steps = 50

    config.map = ml_collections.ConfigDict()
    config.map.side = 16  # k = side² units
    config.map.pool_size = 6
    config.map.stride = 2
    config.map.sigma = ml_collections.config_dict.placeholder(float)  # Gaussian pools when set

    config.train = ml_collections.ConfigDict()
    config.train.num_steps = 3000
    config.train.batch_size = 256
    config.train.sparsity_weight = 0.7  # λ
    config.train.prediction_weight = 1.0  # β, PSD only
    config.train.learning_rate = 2e-3  # Adam on the dictionary
    config.train.encoder_rate_factor = 1.0  # the encoder's rate as a multiple of it
    config.train.final_rate_fraction = 0.1  # linear decay to this fraction
    config.train.log_every_steps = 50
    config.train.checkpoint_every_steps = 500

    config.dead = ml_collections.ConfigDict()
    config.dead.decay = 0.99  # EMA of the per-atom firing fraction
    config.dead.min_rate = 1e-3  # an atom firing on fewer inputs than this is dead
    config.dead.resample_every = 250  # 0 disables resampling
    config.dead.resample_until_fraction = 0.5  # no resampling in the second half

    config.progress_bar = True
    return config
