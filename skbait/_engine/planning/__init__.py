"""Planning a selection: the problem's shape, the memory limit, the cost
model and the choice of a rule (``approximation="auto"``), and what
``verbose`` reports (docs/design.md §8, §10)."""
