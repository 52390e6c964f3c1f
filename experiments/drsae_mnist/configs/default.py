"""DrSAE on full MNIST: 400 units, T = 11, 50,000 training / 10,000 validation images.

Command (from the repository root, with the four MNIST IDX files in
``$SPARSE_JAX_DATA_DIR/mnist``)::

  SPARSE_JAX_DATA_DIR=/path/to/data python -m experiments.drsae_mnist.main \\
      --config=experiments/drsae_mnist/configs/default.py \\
      --workdir=~/sparse_jax_runs/drsae_mnist/default

Expected result: about 1.4 % test error; Rolfe & LeCun (ICLR 2013) report
1.08 % for this size. With these settings (cosine learning-rate schedule over
60 epochs, batch 64), on 2 shared CPU cores with jax 0.10.2, the best
validation error was 1.32 % at step 40,612 and its test error 1.39 %, in
19.7 min (14-22 s per epoch). docs/results.md lists this run and the
earlier exponential-decay runs.

The run is resumable: rerunning the command with the same workdir continues
from the last checkpoint.
"""

import ml_collections


def get_config() -> ml_collections.ConfigDict:
    """Returns the full-MNIST configuration."""
    config = ml_collections.ConfigDict()
    config.seed = 0

    config.data = ml_collections.ConfigDict()
    # "auto" reads $SPARSE_JAX_DATA_DIR (IDX files, else a TFDS directory);
    # see sparse_jax.data.load_mnist for the other sources.
    config.data.source = "auto"
    config.data.data_dir = ""  # empty: the default directory of the source
    config.data.require_full = True  # raise instead of training on the shipped sample
    config.data.train_split = "train"
    config.data.validation_split = "validation"
    config.data.test_split = "test"
    config.data.train_limit = 0  # examples per split; 0 keeps the whole split
    config.data.validation_limit = 0
    config.data.test_limit = 0
    config.data.image_height = 28  # for the filter figures
    config.data.image_width = 28

    config.model = ml_collections.ConfigDict()
    config.model.num_units = 400
    config.model.num_steps = 11
    config.model.num_classes = 10

    # Loss ½‖x − W_d z‖² + l1_weight‖z‖₁ + class_weight·CE, on inputs in [0, 1].
    config.l1_weight = 0.05
    config.class_weight = 10.0
    config.autoencoder_epochs = 2  # phase 1: class_weight = 0 for these epochs
    config.lipschitz = 0.0  # L of the initial encoder; 0 estimates 1.05·σ_max(W_d)²

    # Adam on the decoder and classifier at learning_rate · decay^epoch; the
    # encoder, recurrent matrix and threshold at encoding_rate_scale times that.
    config.learning_rate = 1e-3
    config.learning_rate_schedule = "cosine"  # or "exponential"
    config.learning_rate_decay = 0.97  # per epoch, for the exponential schedule
    config.cosine_epochs = 60  # epochs from the full rate to 0, for the cosine schedule
    config.encoding_rate_scale = 0.1
    config.batch_size = 64
    config.num_epochs = 60
    # Stop after this many epochs without a lower validation error; 0 never stops early.
    config.patience_epochs = 0

    config.eval_batch_size = 1000
    config.log_every_steps = 100
    config.checkpoint_every_steps = 0  # 0: checkpoint at the end of each epoch only
    config.max_steps = 0  # 0: no limit; > 0 stops (resumably) after this many updates
    config.progress_bar = True
    config.num_figure_units = 100  # filters and atoms drawn in the figures
    return config
