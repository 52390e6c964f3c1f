"""Flax modules that own parameters and call the pure functions of sparse_jax."""

from sparse_jax.models.drsae import DrSAE as DrSAE
from sparse_jax.models.drsae import DrSAEOutput as DrSAEOutput
from sparse_jax.models.drsae import dictionary_from_examples as dictionary_from_examples
from sparse_jax.models.drsae import init_drsae_params as init_drsae_params
from sparse_jax.models.drsae import normalize_codes as normalize_codes
from sparse_jax.models.inhibition import InhibitionCoder as InhibitionCoder
from sparse_jax.models.inhibition import InhibitionOutput as InhibitionOutput
from sparse_jax.models.inhibition import init_inhibition_params as init_inhibition_params

__all__ = [
    "DrSAE",
    "DrSAEOutput",
    "InhibitionCoder",
    "InhibitionOutput",
    "dictionary_from_examples",
    "init_drsae_params",
    "init_inhibition_params",
    "normalize_codes",
]
