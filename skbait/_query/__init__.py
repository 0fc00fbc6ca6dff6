"""The query layer: strategies on fitted estimators (docs/design.md §13)."""
