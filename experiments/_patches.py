"""Natural-image patches for the experiment scripts: loading and evaluation sets."""

import jax
import jax.numpy as jnp
from absl import logging


def load_images(data_config) -> tuple[jax.Array, str]:
    """Loads the whitened images named by ``data_config.source``.

    Args:
      data_config: a ConfigDict with ``source`` ("auto", "full" or "sample")
        and ``require_full`` (raise when only the shipped sample is found).

    Returns:
      ``(images, source)`` with images (m, h, w) and source "full" or "sample".
    """
    from sparse_jax.data import DATA_DIR_VARIABLE, load_natural_images  # data layer

    images = load_natural_images(source=data_config.source)
    source = "sample" if images.shape[1] <= 128 else "full"
    if data_config.require_full and source == "sample":
        raise ValueError(
            "This configuration needs the full whitened images, but the loader returned the "
            f"shipped sample. Set {DATA_DIR_VARIABLE} to the folder that holds olshausen/, or "
            "set --config.data.require_full=False."
        )
    logging.info(
        "Loaded %d natural images of shape %s (%s).", *images.shape[:1], images.shape[1:], source
    )
    return jnp.asarray(images), source


def patches(key, images, num_patches: int, patch_size: int) -> jax.Array:
    """Draws ``num_patches`` random patches, mean removed and contrast normalised, (n, p²)."""
    from sparse_jax.data import sample_patches  # data layer

    return sample_patches(key, images, num_patches=num_patches, patch_size=patch_size)


def evaluation_patches(key, images, num_patches: int, patch_size: int, batch_size: int):
    """Draws evaluation patches in training-sized batches, so one compilation serves both."""
    num_batches = max(1, -(-num_patches // batch_size))
    batches = [
        patches(jax.random.fold_in(key, index), images, batch_size, patch_size)
        for index in range(num_batches)
    ]
    return jnp.concatenate(batches)[:num_patches]
