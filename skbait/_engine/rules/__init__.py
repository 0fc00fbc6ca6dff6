"""The BAIT rules, by name: one registry that everything reads.

``approximation=name`` in ``bait_select`` (and the samplers) selects a
registered rule; ``approximation="auto"`` chooses among them
(``plan.py``). Validation, the planner, the Dask path, the
scikit-activeml utilities and the docs read this registry, and nothing
else names a rule. A rule is a :class:`~.base.RuleSpec` subclass in a
module of its own (its selection, :meth:`~.base.RuleSpec.memory` and
:meth:`~.base.RuleSpec.cost` next to the code they describe) plus one
line here, or a call of :func:`register_rule` from outside
(docs/design.md §10, "Adding a rule").
"""

from .base import Cost, RuleSpec, Shape
from .binary import BinarySpec
from .block_diagonal import BlockDiagonalSpec
from .exact import ExactSpec

__all__ = ["RULES", "register_rule", "unregister_rule", "get_rule",
           "rule_names", "RuleSpec", "Shape", "Cost"]

#: name -> RuleSpec, in the order ``approximation="auto"`` considers them
#: when costs tie (the reference, exact BAIT, first).
RULES = {}


def register_rule(spec):
    """Make ``spec`` (a :class:`~.base.RuleSpec` instance) selectable as
    ``approximation=spec.name``; returns it."""
    if not isinstance(spec, RuleSpec):
        raise TypeError(f"register_rule takes a RuleSpec instance; got "
                        f"{type(spec).__name__}.")
    if not isinstance(spec.name, str) or not spec.name \
            or spec.name == "auto":
        raise ValueError(f"A rule needs a name other than 'auto'; got "
                         f"{spec.name!r}.")
    if spec.name in RULES and RULES[spec.name] is not spec:
        raise ValueError(f"A rule named {spec.name!r} is registered "
                         "already; unregister_rule it first.")
    RULES[spec.name] = spec
    return spec


def unregister_rule(name):
    """Remove the rule ``name`` (built-in rules included)."""
    RULES.pop(name, None)


def get_rule(name):
    """The registered rule ``name`` (``None`` means "exact")."""
    name = "exact" if name is None else name
    try:
        return RULES[name]
    except KeyError:
        raise ValueError(
            f"approximation must be 'auto' or one of the registered rules "
            f"{list(RULES)}; got {name!r}.") from None


def rule_names():
    """The registered rules' names, in registration order."""
    return tuple(RULES)


register_rule(ExactSpec())
register_rule(BlockDiagonalSpec())
register_rule(BinarySpec())
