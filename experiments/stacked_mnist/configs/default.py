"""Pretrained against randomly initialised two-layer conv nets on full MNIST.

Command (from the repository root, with the four MNIST IDX files in
``$SPARSE_JAX_DATA_DIR/mnist``)::

  SPARSE_JAX_DATA_DIR=/path/to/data python -m experiments.stacked_mnist.main \\
      --config=experiments/stacked_mnist/configs/default.py

Architecture (fixed): layer 1 has 16 maps of 5 × 5 filters, stride 1, ReLU,
gain and L2 pooling of each map over 2 × 2 windows at stride 2 (28 × 28 →
14 × 14); layer 2 has 32 maps of 5 × 5 × 16 filters with the same pooling
(14 × 14 → 7 × 7); a linear classifier reads the 7 · 7 · 32 = 1,568 pooled
values. Pretraining uses all 60,000 training images without labels.
Fine-tuning uses 600, 6,000 or 60,000 labelled ones, with the same number of
Adam steps for both initialisations, for 3 seeds. Every network is tested on
the 10,000 official test images. The whole comparison took 42 minutes on 2
CPU cores shared with other jobs (load average 3-9): 2.7 to 7.4 minutes of
pretraining per seed and 1.1 to 2.7 minutes per fine-tuning run. The results
are in docs/results.md.
"""

import ml_collections


def _layer(num_features: int, group_weight: float, num_steps: int) -> ml_collections.ConfigDict:
    layer = ml_collections.ConfigDict()
    layer.model = ml_collections.ConfigDict()
    layer.model.num_features = num_features
    layer.model.kernel_size = 5
    layer.model.stride = 1
    layer.model.pool_window = 2
    layer.model.pool_stride = 2
    layer.model.group_size = 1  # maps per pool: each map pooled on its own
    layer.model.group_stride = 0  # 0: group_size
    layer.model.pool_sigma = 0.0  # 0: equal pooling weights
    layer.model.init_scale = 0.1  # initial filter scale and atom norm for pretraining
    # Loss ½‖x − x̂‖² + group_weight · Σ y, Adam at learning_rate.
    layer.group_weight = group_weight
    layer.learning_rate = 3e-3
    layer.batch_size = 64
    layer.num_steps = num_steps
    return layer


def get_config() -> ml_collections.ConfigDict:
    """Returns the full-MNIST configuration."""
    config = ml_collections.ConfigDict()
    config.seeds = (0, 1, 2)
    config.label_counts = (600, 6000, 60000)

    config.data = ml_collections.ConfigDict()
    config.data.source = "auto"  # $SPARSE_JAX_DATA_DIR, else the shipped sample
    config.data.require_full = True  # raise instead of running on the sample
    config.data.train_split = "train_full"  # all 60,000 official training images
    config.data.test_split = "test"

    # Larger group weights left most layer-2 units dead on the shipped sample.
    config.layer1 = _layer(num_features=16, group_weight=0.02, num_steps=3000)
    config.layer2 = _layer(num_features=32, group_weight=0.005, num_steps=3000)

    config.finetune = ml_collections.ConfigDict()
    config.finetune.num_steps = 3000  # the same for both initialisations
    config.finetune.batch_size = 64
    config.finetune.learning_rate = 1e-3  # Adam, linear classifier
    config.finetune.features_rate_scale = 1.0  # encoder layers at this times learning_rate
    # Rescale each pretrained filter to unit norm, the scale of the random
    # initialisation, with bias and gain compensating so the features are unchanged.
    config.finetune.normalize_pretrained = True

    config.eval_batch_size = 1000
    config.log_every_steps = 100
    config.progress_bar = True
    return config
