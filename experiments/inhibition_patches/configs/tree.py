"""Tree-structured inhibition on 12×12 whitened natural-image patches.

From the repository root, on the shipped 128×128 crops::

  python -m experiments.inhibition_patches.main \\
      --config=experiments/inhibition_patches/configs/tree.py

and on the ten full 512×512 images::

  SPARSE_JAX_DATA_DIR=/path/to/data python -m experiments.inhibition_patches.main \\
      --config=experiments/inhibition_patches/configs/tree.py

The code units form 4 trees of 3 levels with branching 4 (4 + 16 + 64 = 84
units). S is learned by gradient ascent and is zero between a unit and its
ancestors and descendants, so units along one branch may be active
together without a penalty. The run reports the mean |cosine| between atoms
along a branch and in different branches, prunes the subtrees whose firing
frequency is below ``prune.fraction_of_mean_usage`` times the mean, and
draws the atoms as trees. A few minutes on
2 CPU cores; results are in docs/results.md.
"""

import ml_collections


def get_config() -> ml_collections.ConfigDict:
    """Returns the tree-structured configuration; the other configurations start from it."""
    config = ml_collections.ConfigDict()
    config.seed = 0
    config.structure = "tree"  # "tree", "map" or "none"

    config.data = ml_collections.ConfigDict()
    config.data.source = "auto"  # the full images with SPARSE_JAX_DATA_DIR, else the sample
    config.data.require_full = False
    config.data.patch_size = 12
    config.data.eval_patches = 8192

    config.tree = ml_collections.ConfigDict()
    config.tree.num_trees = 4
    config.tree.branching = 4
    config.tree.num_levels = 3

    config.map = ml_collections.ConfigDict()
    config.map.side = 12  # k = side² units on a torus
    config.map.radius = 1.5  # units within this wrap-around distance do not inhibit

    config.unstructured = ml_collections.ConfigDict()
    config.unstructured.num_units = 128

    config.model = ml_collections.ConfigDict()
    # The step 1/(L_D + 2c) shrinks as S grows (c reaches max_row_sum), so
    # inference needs more steps than plain ISTA at the same tolerance.
    config.model.inference_steps = 300
    config.model.nonneg = False

    config.inhibition = ml_collections.ConfigDict()
    config.inhibition.train = True  # False keeps the initial S fixed
    # "zeros", or "uniform": every allowed pair at max_row_sum / (allowed pairs of the fullest row)
    config.inhibition.init = "zeros"
    config.inhibition.adam = False  # plain gradient ascent on S; True: Adam ascent

    config.train = ml_collections.ConfigDict()
    config.train.num_steps = 1500
    config.train.batch_size = 256
    config.train.l1_weight = 0.5
    config.train.max_row_sum = 10.0  # B, the bound on every row sum of S
    config.train.dictionary_rate = 2e-3  # Adam, descent on the atoms
    config.train.final_rate_fraction = 0.1  # the dictionary rate decays linearly to this fraction
    config.train.inhibition_rate = 0.5  # gradient ascent on S
    config.train.usage_decay = 0.99  # EMA of the per-unit firing frequency
    config.train.log_every_steps = 25
    config.train.checkpoint_every_steps = 250

    config.prune = ml_collections.ConfigDict()
    # A subtree goes when its root fires on fewer than this fraction of the
    # mean firing frequency of all units (the usage EMA at the end of training).
    config.prune.fraction_of_mean_usage = 0.75
    # Thresholds, as fractions of the mean usage, at which the evaluation is repeated.
    config.prune.curve_fractions = (0.8, 0.9, 1.0, 1.1)

    config.figures = ml_collections.ConfigDict()
    config.figures.num_top_pairs = 16
    config.progress_bar = True
    return config
