"""Flax modules that own parameters and call the pure functions of sparse_jax."""

from sparse_jax.models.drsae import DrSAE as DrSAE
from sparse_jax.models.drsae import DrSAEOutput as DrSAEOutput
from sparse_jax.models.drsae import dictionary_from_examples as dictionary_from_examples
from sparse_jax.models.drsae import init_drsae_params as init_drsae_params
from sparse_jax.models.drsae import normalize_codes as normalize_codes

__all__ = [
    "DrSAE",
    "DrSAEOutput",
    "dictionary_from_examples",
    "init_drsae_params",
    "normalize_codes",
]
