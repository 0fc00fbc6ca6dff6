"""Array backends: array-API helpers, threads and BLAS limits, and the
per-candidate kernels (array-API and numba) (docs/design.md §4, §9)."""
