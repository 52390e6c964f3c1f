"""Convolutional group-sparse auto-encoder on the ten whitened 512 × 512 natural images.

Command (from the repository root, with olshausen/IMAGES.npy in
``$SPARSE_JAX_DATA_DIR``)::

  SPARSE_JAX_DATA_DIR=/path/to/data python -m experiments.conv_natural.main \\
      --config=experiments/conv_natural/configs/default.py

16 feature maps of 9 × 9 filters, stride 1, trained on 64 × 64 crops. The
group sparsity pools each map over 2 × 2 windows at stride 2. Expected
result: oriented atoms (edges and gratings); the measured numbers and the
run time are in docs/results.md. With groups of 4 maps on a ring
(``--config.model.group_size=4 --config.model.group_stride=2``) a 2,000-step
trial learned no oriented atoms.
"""

import ml_collections


def get_config() -> ml_collections.ConfigDict:
    """Returns the full-data configuration."""
    config = ml_collections.ConfigDict()
    config.seed = 0

    config.data = ml_collections.ConfigDict()
    # "auto" reads $SPARSE_JAX_DATA_DIR/olshausen/IMAGES.npy, else the shipped crops.
    config.data.source = "auto"
    config.data.require_full = True  # raise instead of training on the 128 × 128 sample

    config.model = ml_collections.ConfigDict()
    config.model.num_features = 16
    config.model.kernel_size = 9
    config.model.stride = 1
    config.model.pool_window = 2
    config.model.pool_stride = 2
    config.model.group_size = 1  # feature maps per pool
    config.model.group_stride = 0  # shift between groups on the ring of maps; 0: group_size
    config.model.pool_sigma = 0.0  # Gaussian spatial pooling weights; 0: equal weights
    config.model.init_scale = 0.03  # initial filter scale and atom norm

    # Loss ½‖x − x̂‖² + group_weight · Σ y on images scaled to unit pixel variance.
    config.group_weight = 0.5
    config.learning_rate = 3e-3  # Adam, decoder; the encoder runs at encoder_rate_scale times it
    config.encoder_rate_scale = 1.0
    config.crop_size = 64
    config.batch_size = 8
    config.num_steps = 6000
    config.eval_crops = 64

    config.log_every_steps = 50
    config.checkpoint_every_steps = 500
    config.progress_bar = True
    return config
