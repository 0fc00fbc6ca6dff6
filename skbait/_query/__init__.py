"""The query layer: modAL-protocol strategies on fitted estimators.

``samplers.py`` holds the strategies (classes and functions);
``extractors.py`` and ``registry.py`` turn an estimator and its input into
embeddings and probabilities for the engine.
"""
