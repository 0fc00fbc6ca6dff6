"""What a selection reports: :class:`SelectionInfo`, a dict whose keys are
exactly the attributes its docstring lists (``tests/test_info.py`` parses
the list), as SciPy's ``OptimizeResult``.
"""

__all__ = ["SelectionInfo"]


class SelectionInfo(dict):
    """Diagnostics of a BAIT selection (``bait_select(...,
    return_info=True)``).

    A dict with attribute access: ``info.lam`` and ``info["lam"]`` are the
    same value; ``dict(info)`` and ``info.get(name)`` work as on any dict.
    Every attribute below is present; one that does not apply to the
    selection is None.

    Attributes
    ----------
    lam : float
        The λ used, in the units of the embeddings given.
    fisher_scale : float
        μ = tr(F)/(dk), the Fisher's mean eigenvalue (docs/design.md §3).
    objective : ndarray of float64, shape (1 + n_forward + n_removed,)
        The value of ``tr(M⁻¹ F)`` before the first step and after each
        forward addition and backward removal. Dimensionless: the engine
        evaluates it on embeddings divided by √μ (with
        ``fisher="identity"``, ``μ · tr(M⁻¹)`` in the units given).
    gains : ndarray of float64, shape (n_select,)
        The forward decrease of the objective when each returned point was
        added, in the order of the returned indices.
    forward : ndarray of int64, shape (n_forward,)
        Every forward addition in order, before pruning (pool indices).
    n_forward : int
        The forward pass's length, ``min(n_pool, ceil(oversample ·
        n_select))``.
    n_refreshes : int
        How many times M⁻¹ and the per-candidate states were formed afresh
        to bound rounding (docs/design.md §8).
    used_numba : bool
        Whether the compiled kernels ran the steps.
    timings : dict of str to float
        Wall-clock seconds of the phases ``setup``, ``gemm`` (candidate
        products), ``kernel`` (per-candidate work), ``commit`` and
        ``refresh``. On asynchronous devices only their sum is meaningful.
    approximation : str
        The name of the registered rule that ran (the values
        ``approximation`` accepts).
    approximation_reason : str
        Why that rule ran, in words.
    decided_by : str
        "shape", or "memory" when the memory limit kept
        ``approximation="auto"`` from the rule the shape alone chose.
    memory_needed : dict of str to int
        Bytes each rule considered would have needed.
    predicted_seconds : dict of str to float
        Each rule's predicted seconds for this selection on this machine
        (the cost model of docs/design.md §10, from rates measured once
        and cached).
    predicted_phases : dict of str to float
        The predicted seconds of the rule that ran, by phase: ``setup``,
        ``steps``, ``commits``, ``backward`` and their ``total``.
    seconds : float
        Wall-clock seconds of the whole selection, validation included.
    n_chunks : int or None
        A Dask pool: the number of blocks the pool was held in. None in
        one process.
    workers_lost : int or None
        A Dask pool: how many of the workers seen during the selection
        were gone at its end (their blocks' states were computed again
        from the graph, docs/design.md §11). None in one process.
    candidate_gains : ndarray of float64, shape (n_select, n_pool), or None
        Only when a caller inside skbait asked the greedy loop to record
        it (scikit-activeml's ``return_utilities``); None otherwise. Row
        i: every pool point's forward gain, on the objective's scale, at
        the forward step that added the i-th returned point, as the
        engine computed them to choose it (in the precision of
        ``dtype``); NaN for the points added before that step, pruned
        ones included. Row i's largest entry is at the i-th returned
        index, up to ties.

    See Also
    --------
    skbait.SamplerInfo : the samplers' ``info_``, with these attributes
        and the sampler's own.
    """

    _fields = (
        "lam", "fisher_scale", "objective", "gains", "forward", "n_forward",
        "n_refreshes", "used_numba", "timings", "approximation",
        "approximation_reason", "decided_by", "memory_needed",
        "predicted_seconds", "predicted_phases", "seconds", "n_chunks",
        "workers_lost", "candidate_gains")

    def __init__(self, **values):
        unknown = sorted(set(values) - set(self._fields))
        if unknown:
            raise TypeError(
                f"{type(self).__name__} has no attributes {unknown}; its "
                f"attributes are {list(self._fields)}.")
        super().__init__((name, values.get(name)) for name in self._fields)

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(
                f"{type(self).__name__} has no attribute {name!r}; its "
                f"attributes are {list(self._fields)}.") from None

    def __setattr__(self, name, value):
        if name not in self._fields:
            raise AttributeError(
                f"{type(self).__name__} has no attribute {name!r}; its "
                f"attributes are {list(self._fields)}.")
        self[name] = value

    def __dir__(self):
        return list(self._fields)

    def __repr__(self):
        width = max(len(name) for name in self._fields)
        lines = []
        for name, value in self.items():
            text = repr(value).replace("\n", "\n" + " " * (width + 4))
            lines.append(f"  {name.rjust(width)}: {text}")
        return f"{type(self).__name__}(\n" + "\n".join(lines) + "\n)"

    def __reduce__(self):
        # Pickled (a Dask client, joblib) by its attributes: dict's default
        # would call __init__ without them, then __setitem__.
        return (_rebuild, (type(self), dict(self)))


def _rebuild(cls, values):
    return cls(**values)
