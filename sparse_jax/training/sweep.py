"""Training several models in one compiled step by ``jax.vmap`` over a leading axis.

The models of a sweep share the batch and differ in their parameters, their
optimiser states and their hyperparameters (λ, α, learning rates). Stack them
along a new leading axis with :func:`stack_trees`, wrap the train step with
:func:`make_sweep_step` and take model i back out with :func:`tree_index`.

Example::

  hypers = stack_trees([drsae_hyperparams(l1_weight=w, class_weight=0.0, learning_rate=1e-3)
                        for w in (0.01, 0.03, 0.1)])
  params = stack_trees([params0] * 3)
  opt_state = jax.vmap(optimizer.init)(params)
  sweep_step = make_sweep_step(drsae_train_step, model=model, optimizer=optimizer)
  params, opt_state, metrics = sweep_step(params, opt_state, batch, hypers)
"""

import functools
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp


def stack_trees(trees: Sequence[Any]) -> Any:
    """Stacks pytrees of one structure leaf by leaf along a new leading axis.

    Args:
      trees: m ≥ 1 pytrees with the same structure and leaf shapes.

    Returns:
      One pytree whose leaves have shape (m, *leaf_shape).
    """
    trees = list(trees)
    if not trees:
        raise ValueError("trees is empty; expected at least one pytree to stack")
    structure = jax.tree.structure(trees[0])
    for i, tree in enumerate(trees[1:], start=1):
        if jax.tree.structure(tree) != structure:
            raise ValueError(
                f"trees[{i}] has structure {jax.tree.structure(tree)}; expected {structure} "
                "like trees[0]"
            )
    return jax.tree.map(lambda *leaves: jnp.stack(leaves), *trees)


def tree_index(tree: Any, index: int) -> Any:
    """Returns entry ``index`` of the leading axis of every leaf (one model of a sweep)."""
    return jax.tree.map(lambda leaf: leaf[index], tree)


def make_sweep_step(step_fn: Callable, /, **static_kwargs) -> Callable:
    """Jits ``step_fn`` vmapped over stacked params, optimiser states and hyperparameters.

    The returned function is ``sweep_step(params, opt_state, batch, hyper)``:
    ``params``, ``opt_state`` and ``hyper`` carry a leading model axis of size
    m, the batch has none and is shared. It returns the new params and
    optimiser states, stacked, and the metrics with a leading axis m.

    Args:
      step_fn: a pure step ``step_fn(params, opt_state, batch, hyper, **static_kwargs)``
        returning ``(params, opt_state, metrics)``, such as
        :func:`sparse_jax.training.drsae_train_step`.
      **static_kwargs: fixed keyword arguments of ``step_fn`` (model,
        optimiser, bounds); they are closed over, not traced.

    Returns:
      The jitted sweep step.
    """
    step = functools.partial(step_fn, **static_kwargs)
    return jax.jit(jax.vmap(step, in_axes=(0, 0, None, 0)))
