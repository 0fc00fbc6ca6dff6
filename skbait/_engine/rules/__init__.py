"""The BAIT rules, by name: one registry that everything reads, and
nothing else names a rule (docs/design.md §10, "The rules, one registry").
"""

import textwrap

from .base import Cost, RuleSpec, Shape, Work
from .binary import BinarySpec
from .block_diagonal import BlockDiagonalSpec
from .exact import ExactSpec
from .top_c import TopCSpec

__all__ = ["RULES", "register_rule", "unregister_rule", "get_rule",
           "reference_rule", "rule_names", "fill_rule_docs", "RuleSpec",
           "Shape", "Cost", "Work"]

#: name -> RuleSpec, in the order ``approximation="auto"`` considers them
#: when costs tie (the reference first).
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


def reference_rule():
    """The first registered rule whose spec says ``reference = True``, or
    None."""
    return next((s for s in RULES.values() if s.reference), None)


def get_rule(name):
    """The registered rule ``name`` (``None``: the reference rule)."""
    if name is None and reference_rule() is not None:
        return reference_rule()
    try:
        return RULES[name]
    except KeyError:
        raise ValueError(
            f"approximation must be 'auto' or one of the registered rules "
            f"{list(RULES)}; got {name!r}.") from None


def rule_names():
    """The registered rules' names, in registration order."""
    return tuple(RULES)


def fill_rule_docs(doc):
    """``doc`` with the registry's words in place of its markers, so that
    no docstring lists the rules by hand: ``{{rule_choices}}`` (the
    values of ``approximation`` as a numpydoc type lists them),
    ``{{reference}}`` (the reference rule's name, quoted) and
    ``{{rules}}`` (each rule's summary, wrapped at the marker's
    indentation, which must start its line)."""
    names = [f'"{name}"' for name in rule_names()]
    ref = reference_rule()
    ordered = sorted(RULES.values(), key=lambda s: s is not ref)
    words = {
        "rule_choices": "{" + ", ".join(['"auto"'] + names) + "}",
        "reference": "None" if ref is None else f'"{ref.name}"',
    }
    for name, text in words.items():
        doc = doc.replace("{{" + name + "}}", text)
    lines = doc.split("\n")
    for i, line in enumerate(lines):
        if line.strip() == "{{rules}}":
            indent = line[:len(line) - len(line.lstrip())]
            lines[i] = textwrap.fill(
                " ".join(f'"{s.name}": {s.summary}.' for s in ordered),
                72 + len(indent) - 4, initial_indent=indent,
                subsequent_indent=indent)
    return "\n".join(lines)


register_rule(ExactSpec())
register_rule(BlockDiagonalSpec())
register_rule(BinarySpec())
register_rule(TopCSpec(c=3))
