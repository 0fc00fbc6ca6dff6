"""The greedy core: the forward-backward loop, the candidates' states and
scores, the tie rule, and the Fisher algebra every rule shares
(docs/design.md §2–§7)."""
