"""sparse_jax: sparse representations with encoder/decoder energy models in JAX."""

from sparse_jax import groups as groups
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
from sparse_jax.groups import group_lasso_penalty as group_lasso_penalty
from sparse_jax.groups import latent_group_lasso as latent_group_lasso
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
from sparse_jax.models.drsae import DrSAE as DrSAE
from sparse_jax.models.drsae import DrSAEOutput as DrSAEOutput
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
    "DrSAE",
    "DrSAEOutput",
    "GroupStructure",
    "InhibitionEnergyTerms",
    "LatentGroupLassoResult",
    "LinearOperator",
    "ListaParams",
    "Penalty",
    "PrunedTree",
    "SolverResult",
    "active_fraction",
    "balanced_forest",
    "dense_operator",
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
    "lasso_duality_gap",
    "lasso_energy",
    "latent_group_lasso",
    "lipschitz_constant",
    "lista_encode",
    "lista_params_from_dictionary",
    "project_inhibition",
    "proximal_gradient",
    "prune_tree",
    "reconstruction_energy",
    "reconstruction_snr",
    "soft_threshold",
    "torus_mask",
    "tree_lasso_penalty",
    "tree_mask",
    "tree_prox",
    "unstructured_mask",
]
