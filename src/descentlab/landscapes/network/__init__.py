"""Loss landscapes of real networks: planes, lines and sharpness around trained weights.

* :func:`of_model` -> a 2-D :class:`NetworkLandscape` (filter-normalized, random, PCA of
  the training path, or given directions) that every landscape tool draws and runs on;
* :func:`interpolate` -> loss and accuracy on the line between two weight vectors;
* :func:`sharpness` -> the top Hessian eigenvalue (of a network, a function or a landscape).
"""

from descentlab.landscapes.network.evaluator import PlaneEvaluator
from descentlab.landscapes.network.plane import NetworkLandscape, interpolate, of_model
from descentlab.landscapes.network.sharpness import lanczos_top, model_hvp, sharpness
from descentlab.landscapes.network.weights import (
    filter_normalized,
    flat_weights,
    pca_directions,
    set_flat_weights,
)

__all__ = [
    "NetworkLandscape",
    "PlaneEvaluator",
    "filter_normalized",
    "flat_weights",
    "interpolate",
    "lanczos_top",
    "model_hvp",
    "of_model",
    "pca_directions",
    "set_flat_weights",
    "sharpness",
]
