"""Differences between the JAX versions that sparse_jax supports.

On Python 3.11 pip resolves jax 0.10.x, on Python 3.12 and newer a later
release. Every version-dependent call goes through this module, so the rest of
the package is written against one API.
"""

import contextlib

import jax


def enable_x64(enabled: bool = True) -> contextlib.AbstractContextManager:
    """Returns a context manager that turns 64-bit types on or off inside it."""
    if hasattr(jax, "enable_x64"):
        return jax.enable_x64(enabled)
    from jax.experimental import enable_x64 as legacy_enable_x64  # jax < 0.8

    return legacy_enable_x64(enabled)


def is_tracer(value) -> bool:
    """Returns True when ``value`` is an abstract value inside jit, vmap or grad."""
    return isinstance(value, jax.core.Tracer)
