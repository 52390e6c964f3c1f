"""Training: losses, optimisers with parameter groups, projections, steps, sweeps,
metrics and checkpoints. Takes batches as arrays; it does not load data."""

from sparse_jax.training import sharding as sharding
from sparse_jax.training.checkpoints import Checkpointer as Checkpointer
from sparse_jax.training.dead_atoms import find_dead_atoms as find_dead_atoms
from sparse_jax.training.dead_atoms import firing_fraction as firing_fraction
from sparse_jax.training.dead_atoms import resample_dead_atoms as resample_dead_atoms
from sparse_jax.training.dead_atoms import reset_optimizer_state as reset_optimizer_state
from sparse_jax.training.dead_atoms import update_firing_rates as update_firing_rates
from sparse_jax.training.drsae import DRSAE_PARAM_GROUPS as DRSAE_PARAM_GROUPS
from sparse_jax.training.drsae import Batch as Batch
from sparse_jax.training.drsae import DrSAEBounds as DrSAEBounds
from sparse_jax.training.drsae import DrSAEHyperparams as DrSAEHyperparams
from sparse_jax.training.drsae import DrSAELossTerms as DrSAELossTerms
from sparse_jax.training.drsae import check_labels as check_labels
from sparse_jax.training.drsae import drsae_eval_step as drsae_eval_step
from sparse_jax.training.drsae import drsae_hyperparams as drsae_hyperparams
from sparse_jax.training.drsae import drsae_loss as drsae_loss
from sparse_jax.training.drsae import drsae_optimizer as drsae_optimizer
from sparse_jax.training.drsae import drsae_param_labels as drsae_param_labels
from sparse_jax.training.drsae import drsae_train_step as drsae_train_step
from sparse_jax.training.drsae import make_drsae_train_step as make_drsae_train_step
from sparse_jax.training.drsae import project_drsae_params as project_drsae_params
from sparse_jax.training.group_ae import GROUP_AE_PARAM_GROUPS as GROUP_AE_PARAM_GROUPS
from sparse_jax.training.group_ae import GroupAEHyperparams as GroupAEHyperparams
from sparse_jax.training.group_ae import GroupAELossTerms as GroupAELossTerms
from sparse_jax.training.group_ae import group_ae_eval_step as group_ae_eval_step
from sparse_jax.training.group_ae import group_ae_hyperparams as group_ae_hyperparams
from sparse_jax.training.group_ae import group_ae_loss as group_ae_loss
from sparse_jax.training.group_ae import group_ae_optimizer as group_ae_optimizer
from sparse_jax.training.group_ae import group_ae_train_step as group_ae_train_step
from sparse_jax.training.group_ae import make_group_ae_train_step as make_group_ae_train_step
from sparse_jax.training.group_ae import project_group_ae_params as project_group_ae_params
from sparse_jax.training.group_ae import psd_codes as psd_codes
from sparse_jax.training.group_ae import psd_loss as psd_loss
from sparse_jax.training.group_ae import resample_group_ae_units as resample_group_ae_units
from sparse_jax.training.group_ae import sparsity_penalty as sparsity_penalty
from sparse_jax.training.inhibition import INHIBITION_PARAM_GROUPS as INHIBITION_PARAM_GROUPS
from sparse_jax.training.inhibition import InhibitionHyperparams as InhibitionHyperparams
from sparse_jax.training.inhibition import PrunedModel as PrunedModel
from sparse_jax.training.inhibition import check_structure_mask as check_structure_mask
from sparse_jax.training.inhibition import inhibition_eval_step as inhibition_eval_step
from sparse_jax.training.inhibition import inhibition_hyperparams as inhibition_hyperparams
from sparse_jax.training.inhibition import inhibition_loss as inhibition_loss
from sparse_jax.training.inhibition import inhibition_optimizer as inhibition_optimizer
from sparse_jax.training.inhibition import inhibition_param_labels as inhibition_param_labels
from sparse_jax.training.inhibition import inhibition_train_step as inhibition_train_step
from sparse_jax.training.inhibition import make_inhibition_train_step as make_inhibition_train_step
from sparse_jax.training.inhibition import project_inhibition_params as project_inhibition_params
from sparse_jax.training.inhibition import prune_inhibition_model as prune_inhibition_model
from sparse_jax.training.inhibition import update_usage as update_usage
from sparse_jax.training.metrics import JsonlMetricWriter as JsonlMetricWriter
from sparse_jax.training.metrics import NonFiniteLossError as NonFiniteLossError
from sparse_jax.training.metrics import read_metrics as read_metrics
from sparse_jax.training.optim import partitioned_adam as partitioned_adam
from sparse_jax.training.optim import partitioned_optimizer as partitioned_optimizer
from sparse_jax.training.optim import scale_by_group_learning_rate as scale_by_group_learning_rate
from sparse_jax.training.projections import clip_norms as clip_norms
from sparse_jax.training.projections import normalize_columns as normalize_columns
from sparse_jax.training.sweep import make_sweep_step as make_sweep_step
from sparse_jax.training.sweep import stack_trees as stack_trees
from sparse_jax.training.sweep import tree_index as tree_index

__all__ = [
    "DRSAE_PARAM_GROUPS",
    "GROUP_AE_PARAM_GROUPS",
    "INHIBITION_PARAM_GROUPS",
    "Batch",
    "Checkpointer",
    "DrSAEBounds",
    "DrSAEHyperparams",
    "DrSAELossTerms",
    "GroupAEHyperparams",
    "GroupAELossTerms",
    "InhibitionHyperparams",
    "JsonlMetricWriter",
    "NonFiniteLossError",
    "PrunedModel",
    "check_labels",
    "check_structure_mask",
    "clip_norms",
    "drsae_eval_step",
    "drsae_hyperparams",
    "drsae_loss",
    "drsae_optimizer",
    "drsae_param_labels",
    "drsae_train_step",
    "find_dead_atoms",
    "firing_fraction",
    "group_ae_eval_step",
    "group_ae_hyperparams",
    "group_ae_loss",
    "group_ae_optimizer",
    "group_ae_train_step",
    "inhibition_eval_step",
    "inhibition_hyperparams",
    "inhibition_loss",
    "inhibition_optimizer",
    "inhibition_param_labels",
    "inhibition_train_step",
    "make_drsae_train_step",
    "make_group_ae_train_step",
    "make_inhibition_train_step",
    "make_sweep_step",
    "normalize_columns",
    "partitioned_adam",
    "partitioned_optimizer",
    "project_drsae_params",
    "project_group_ae_params",
    "project_inhibition_params",
    "prune_inhibition_model",
    "psd_codes",
    "psd_loss",
    "read_metrics",
    "resample_dead_atoms",
    "resample_group_ae_units",
    "reset_optimizer_state",
    "scale_by_group_learning_rate",
    "sharding",
    "sparsity_penalty",
    "stack_trees",
    "tree_index",
    "update_firing_rates",
    "update_usage",
]
