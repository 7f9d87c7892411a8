"""The "which functions are equivariant?" playground: a restricted parser for functions of vectors
``a``, ``b`` and positions ``r``, the seminar's built-in examples, and a measured verdict.

Layer 2: depends only on ``equiv.o3`` (and ``equiv.errors``).

Example:
    >>> judge("outer(a, b)").irreps
    '0e+1e+2e'
"""

from equiv.playground.expression import FUNCTIONS, MAX_LENGTH, VARIABLES, Expression, ExpressionError, parse_expression
from equiv.playground.library import BUILTINS, BUILTINS_BY_KEY, BuiltinFunction
from equiv.playground.verdict import (
    TOLERANCE, SideBySide, Trial, TrialError, Verdict, default_inputs, judge, rank2_components, side_by_side, trials,
)

__all__ = [
    "BUILTINS", "BUILTINS_BY_KEY", "BuiltinFunction", "Expression", "ExpressionError", "FUNCTIONS", "MAX_LENGTH",
    "TOLERANCE", "Trial", "TrialError", "VARIABLES", "Verdict", "default_inputs", "judge", "parse_expression",
    "rank2_components", "trials", "SideBySide", "side_by_side",
]
