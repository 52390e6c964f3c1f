"""sparse_jax: sparse representations with encoder/decoder energy models in JAX."""

from sparse_jax.encoders import ListaParams as ListaParams
from sparse_jax.encoders import lista_encode as lista_encode
from sparse_jax.encoders import lista_params_from_dictionary as lista_params_from_dictionary
from sparse_jax.energies import active_fraction as active_fraction
from sparse_jax.energies import l1_norm as l1_norm
from sparse_jax.energies import lasso_energy as lasso_energy
from sparse_jax.energies import reconstruction_energy as reconstruction_energy
from sparse_jax.energies import reconstruction_snr as reconstruction_snr
from sparse_jax.prox import soft_threshold as soft_threshold
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
    "LinearOperator",
    "ListaParams",
    "Penalty",
    "SolverResult",
    "active_fraction",
    "dense_operator",
    "fista",
    "ista",
    "l1_norm",
    "l1_penalty",
    "lasso_duality_gap",
    "lasso_energy",
    "lipschitz_constant",
    "lista_encode",
    "lista_params_from_dictionary",
    "proximal_gradient",
    "reconstruction_energy",
    "reconstruction_snr",
    "soft_threshold",
]
