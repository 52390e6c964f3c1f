"""Flax modules that own parameters and call the pure functions of sparse_jax."""

from sparse_jax.models.conv import AutoencoderOutput as AutoencoderOutput
from sparse_jax.models.conv import ClassifierOutput as ClassifierOutput
from sparse_jax.models.conv import ConvClassifier as ConvClassifier
from sparse_jax.models.conv import ConvEncoderLayer as ConvEncoderLayer
from sparse_jax.models.conv import ConvSparseAutoencoder as ConvSparseAutoencoder
from sparse_jax.models.drsae import DrSAE as DrSAE
from sparse_jax.models.drsae import DrSAEOutput as DrSAEOutput
from sparse_jax.models.drsae import dictionary_from_examples as dictionary_from_examples
from sparse_jax.models.drsae import init_drsae_params as init_drsae_params
from sparse_jax.models.drsae import normalize_codes as normalize_codes
from sparse_jax.models.group_ae import GroupAEOutput as GroupAEOutput
from sparse_jax.models.group_ae import GroupSparseAutoEncoder as GroupSparseAutoEncoder
from sparse_jax.models.group_ae import gain_relu_encode as gain_relu_encode
from sparse_jax.models.inhibition import InhibitionCoder as InhibitionCoder
from sparse_jax.models.inhibition import InhibitionOutput as InhibitionOutput
from sparse_jax.models.inhibition import init_inhibition_params as init_inhibition_params
from sparse_jax.models.local import LocalSparseAutoencoder as LocalSparseAutoencoder

__all__ = [
    "AutoencoderOutput",
    "ClassifierOutput",
    "ConvClassifier",
    "ConvEncoderLayer",
    "ConvSparseAutoencoder",
    "DrSAE",
    "DrSAEOutput",
    "GroupAEOutput",
    "GroupSparseAutoEncoder",
    "InhibitionCoder",
    "InhibitionOutput",
    "LocalSparseAutoencoder",
    "dictionary_from_examples",
    "gain_relu_encode",
    "init_drsae_params",
    "init_inhibition_params",
    "normalize_codes",
]
