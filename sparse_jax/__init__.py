"""sparse_jax: sparse representations with encoder/decoder energy models in JAX."""

from sparse_jax import conv as conv
from sparse_jax import groups as groups
from sparse_jax import local as local
from sparse_jax import orientation as orientation
from sparse_jax import similarity as similarity
from sparse_jax.conv import conv_correlate as conv_correlate
from sparse_jax.conv import conv_decode as conv_decode
from sparse_jax.conv import conv_encode as conv_encode
from sparse_jax.conv import conv_operator as conv_operator
from sparse_jax.conv import conv_sparse_code as conv_sparse_code
from sparse_jax.conv import l2_pool as l2_pool
from sparse_jax.encoders import ListaParams as ListaParams
from sparse_jax.encoders import lista_encode as lista_encode
from sparse_jax.encoders import lista_params_from_dictionary as lista_params_from_dictionary
from sparse_jax.energies import active_fraction as active_fraction
from sparse_jax.energies import group_l2_penalty as group_l2_penalty
from sparse_jax.energies import group_norms as group_norms
from sparse_jax.energies import l1_norm as l1_norm
from sparse_jax.energies import lasso_energy as lasso_energy
from sparse_jax.energies import reconstruction_energy as reconstruction_energy
from sparse_jax.energies import reconstruction_snr as reconstruction_snr
from sparse_jax.groups import GroupStructure as GroupStructure
from sparse_jax.groups import LatentGroupLassoResult as LatentGroupLassoResult
from sparse_jax.groups import PrimalDualResult as PrimalDualResult
from sparse_jax.groups import group_lasso_penalty as group_lasso_penalty
from sparse_jax.groups import latent_group_lasso as latent_group_lasso
from sparse_jax.groups import overlapping_group_lasso as overlapping_group_lasso
from sparse_jax.groups import tree_lasso_penalty as tree_lasso_penalty
from sparse_jax.inhibition import InhibitionEnergyTerms as InhibitionEnergyTerms
from sparse_jax.inhibition import PrunedTree as PrunedTree
from sparse_jax.inhibition import balanced_forest as balanced_forest
from sparse_jax.inhibition import inhibited_ista as inhibited_ista
from sparse_jax.inhibition import inhibition_energy as inhibition_energy
from sparse_jax.inhibition import inhibition_energy_terms as inhibition_energy_terms
from sparse_jax.inhibition import inhibition_norm_bound as inhibition_norm_bound
from sparse_jax.inhibition import inhibition_penalty as inhibition_penalty
from sparse_jax.inhibition import project_inhibition as project_inhibition
from sparse_jax.inhibition import prune_tree as prune_tree
from sparse_jax.inhibition import torus_mask as torus_mask
from sparse_jax.inhibition import tree_mask as tree_mask
from sparse_jax.inhibition import unstructured_mask as unstructured_mask
from sparse_jax.local import extract_patches as extract_patches
from sparse_jax.local import local_correlate as local_correlate
from sparse_jax.local import local_decode as local_decode
from sparse_jax.local import local_encode as local_encode
from sparse_jax.local import local_operator as local_operator
from sparse_jax.models.conv import ConvSparseAutoencoder as ConvSparseAutoencoder
from sparse_jax.models.drsae import DrSAE as DrSAE
from sparse_jax.models.drsae import DrSAEOutput as DrSAEOutput
from sparse_jax.models.group_ae import GroupAEOutput as GroupAEOutput
from sparse_jax.models.group_ae import GroupSparseAutoEncoder as GroupSparseAutoEncoder
from sparse_jax.models.local import LocalSparseAutoencoder as LocalSparseAutoencoder
from sparse_jax.orientation import find_pinwheels as find_pinwheels
from sparse_jax.orientation import preferred_orientations as preferred_orientations
from sparse_jax.prox import group_soft_threshold as group_soft_threshold
from sparse_jax.prox import soft_threshold as soft_threshold
from sparse_jax.prox import tree_prox as tree_prox
from sparse_jax.solvers import LinearOperator as LinearOperator
from sparse_jax.solvers import Penalty as Penalty
from sparse_jax.solvers import SolverResult as SolverResult
from sparse_jax.solvers import dense_operator as dense_operator
from sparse_jax.solvers import fista as fista
from sparse_jax.solvers import ista as ista
from sparse_jax.solvers import l1_penalty as l1_penalty
from sparse_jax.solvers import lasso_duality_gap as lasso_duality_gap
from sparse_jax.solvers import lipschitz_constant as lipschitz_constant
from sparse_jax.solvers import proximal_gradient as proximal_gradient

__version__ = "0.1.0"

__all__ = [
    "ConvSparseAutoencoder",
    "DrSAE",
    "DrSAEOutput",
    "GroupAEOutput",
    "GroupSparseAutoEncoder",
    "GroupStructure",
    "InhibitionEnergyTerms",
    "LatentGroupLassoResult",
    "LinearOperator",
    "ListaParams",
    "LocalSparseAutoencoder",
    "Penalty",
    "PrimalDualResult",
    "PrunedTree",
    "SolverResult",
    "active_fraction",
    "balanced_forest",
    "conv",
    "conv_correlate",
    "conv_decode",
    "conv_encode",
    "conv_operator",
    "conv_sparse_code",
    "dense_operator",
    "extract_patches",
    "find_pinwheels",
    "fista",
    "group_l2_penalty",
    "group_lasso_penalty",
    "group_norms",
    "group_soft_threshold",
    "groups",
    "inhibited_ista",
    "inhibition_energy",
    "inhibition_energy_terms",
    "inhibition_norm_bound",
    "inhibition_penalty",
    "ista",
    "l1_norm",
    "l1_penalty",
    "l2_pool",
    "lasso_duality_gap",
    "lasso_energy",
    "latent_group_lasso",
    "lipschitz_constant",
    "lista_encode",
    "lista_params_from_dictionary",
    "local",
    "local_correlate",
    "local_decode",
    "local_encode",
    "local_operator",
    "orientation",
    "overlapping_group_lasso",
    "preferred_orientations",
    "project_inhibition",
    "proximal_gradient",
    "prune_tree",
    "reconstruction_energy",
    "reconstruction_snr",
    "similarity",
    "soft_threshold",
    "torus_mask",
    "tree_lasso_penalty",
    "tree_mask",
    "tree_prox",
    "unstructured_mask",
]
