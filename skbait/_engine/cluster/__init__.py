"""A pool on a Dask cluster: BAIT's and the baselines' selection on Dask
blocks, and every interaction with the workers (docs/design.md §11)."""
