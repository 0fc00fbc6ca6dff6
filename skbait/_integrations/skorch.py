"""Features of skorch nets: the input of the last linear layer (torch).

Registered lazily: the registry loads this module when it first meets a
skorch class, so that ``import skbait`` never imports torch.
"""

import contextlib

import numpy as np
import torch
from skorch import NeuralNet
from sklearn.exceptions import NotFittedError

from .._query.registry import classifier_like, current_request, register

__all__ = ["skorch_features", "predicted_features"]

NAME = "skorch NeuralNetClassifier / NeuralNetRegressor"


def _target_layer(module, layer):
    if layer is not None:
        named = dict(module.named_modules())
        if layer not in named:
            raise ValueError(
                f"layer={layer!r} is not a submodule of the net's module; "
                f"its named submodules are {sorted(k for k in named if k)}.")
        return named[layer]
    linears = [m for m in module.modules() if isinstance(m, torch.nn.Linear)]
    if not linears:
        raise ValueError(
            "The net's module has no torch.nn.Linear layer, so skbait cannot "
            "find its last layer; name the layer whose input is the "
            "embedding with layer='<submodule name>'.")
    return linears[-1]


@contextlib.contextmanager
def captured_layer_inputs(module, layer):
    """Collect the inputs of ``layer`` (a submodule's name; None: the last
    ``torch.nn.Linear``) of ``module`` while the block runs, as CPU
    tensors; the hook and the training flags are restored after."""
    target = _target_layer(module, layer)
    captured = []

    def hook(_module, inputs, _output):
        captured.append(inputs[0].detach().reshape(inputs[0].shape[0], -1)
                        .to("cpu", copy=True))

    modes = [(m, m.training) for m in module.modules()]
    handle = target.register_forward_hook(hook)
    try:
        yield captured
    finally:
        handle.remove()
        for m, mode in modes:
            m.training = mode


def predicted_features(model, module, X, layer, proba):
    """``(embeddings, proba or None)`` of ``X``: the input of ``layer`` of
    ``module`` captured while ``model`` (a skorch net, or a wrapper around
    one) predicts; ``proba=False`` returns None for the probabilities."""
    classifier = classifier_like(model)
    with captured_layer_inputs(module, layer) as captured:
        out = model.predict_proba(X) if classifier else model.predict(X)
    emb = torch.cat(captured).numpy().astype(np.float64)
    if emb.shape[0] != len(out):
        raise ValueError(
            f"The hooked layer ran on {emb.shape[0]} rows for {len(out)} "
            "inputs (it is called more than once per forward pass); name "
            "another layer with layer='<submodule name>'.")
    return emb, (np.asarray(out) if proba and classifier else None)


def skorch_features(net, X, layer, proba=True):
    """``(embeddings, proba or None)`` of ``X`` under a fitted skorch net
    (``X`` as skorch accepts it). The probabilities keep
    ``predict_proba``'s dtype, so that the caller can judge their rounding.
    """
    if not getattr(net, "initialized_", False):
        raise NotFittedError(
            f"The {type(net).__name__} is not initialized/fitted yet: fit it "
            "(or teach the modAL learner) before querying.")
    return predicted_features(net, net.module_, X, layer, proba)


def _extract(net, X, layer):
    return skorch_features(net, X, layer, proba=current_request().proba)


register(NAME, NeuralNet, _extract)
