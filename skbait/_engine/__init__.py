"""The selection engine: BAIT (``bait.py``) and the baselines on
embeddings and probabilities of any array-API namespace; nothing here
knows about estimators. Where each formula lives: docs/design.md §12.
"""
