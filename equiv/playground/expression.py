"""A restricted expression language for functions of two vectors ``a``, ``b`` and positions ``r``.

A typed function such as ``sigmoid(dot(a, b)) * a`` is parsed with Python's :mod:`ast` and only an
allow-list of node types is accepted (never ``eval``): numbers, the names ``a``, ``b``, ``r``,
``+ − * / @``, powers with a small constant exponent, unary minus, calls of the functions in
:data:`FUNCTIONS`, indexing with integers and ``:`` (``r[1]``, ``r[:, 0]``) and list literals
(``[a[1], a[2], a[0]]``, ``[1, 0, 0]``). Anything else is refused with one line saying what is
allowed. Python's own parser is used because it is exact and well kept; the allow-list is ours.

Values are float64 torch tensors: ``a``, ``b`` ``[3]`` (polar vectors), ``r`` ``[n_atoms, 3]`` (Å).

Example:
    >>> import torch
    >>> f = parse_expression("cross(a, b)")
    >>> f(torch.tensor([1., 0, 0]), torch.tensor([0., 1, 0]), torch.zeros(4, 3)).tolist()
    [0.0, 0.0, 1.0]
    >>> parse_expression("__import__('os')")
    Traceback (most recent call last):
    ...
    equiv.playground.expression.ExpressionError: unknown function '__import__': use one of cross, dot, exp, gram, mean, norm, outer, relu, sigmoid, sum, tanh, trace, transpose, σ
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import Callable

import torch

from equiv.errors import EquivError

__all__ = ["ExpressionError", "Expression", "parse_expression", "FUNCTIONS", "VARIABLES", "MAX_LENGTH"]

#: The longest expression accepted (characters).
MAX_LENGTH = 300
#: The input names: two polar vectors and a molecule's positions.
VARIABLES = ("a", "b", "r")
_MAX_POWER = 8
_MAX_NODES = 200

Tensor = torch.Tensor


class ExpressionError(EquivError, ValueError):
    """A typed function that cannot be parsed or evaluated; the message says why in one line."""


def _last_axis(name: str, *xs: Tensor) -> None:
    for x in xs:
        if x.ndim == 0 or x.shape[-1] != 3:
            raise ExpressionError(f"{name}() needs vectors (last axis of length 3), got shape {list(x.shape)}")


def _dot(x: Tensor, y: Tensor) -> Tensor:
    _last_axis("dot", x, y)
    return (x * y).sum(-1)


def _cross(x: Tensor, y: Tensor) -> Tensor:
    _last_axis("cross", x, y)
    x, y = torch.broadcast_tensors(x, y)
    return torch.linalg.cross(x, y)


def _outer(x: Tensor, y: Tensor) -> Tensor:
    _last_axis("outer", x, y)
    return x[..., :, None] * y[..., None, :]


def _norm(x: Tensor) -> Tensor:
    _last_axis("norm", x)
    return x.norm(dim=-1)


def _atoms_reduce(name: str, op: Callable[[Tensor], Tensor]) -> Callable[[Tensor], Tensor]:
    def reduce(x: Tensor) -> Tensor:
        if x.ndim == 0:
            raise ExpressionError(f"{name}() needs an array (over atoms or components), got a scalar")
        return op(x)

    return reduce


def _transpose(x: Tensor) -> Tensor:
    if x.ndim < 2:
        raise ExpressionError(f"transpose() needs a matrix, got shape {list(x.shape)}")
    return x.transpose(-1, -2)


def _gram(x: Tensor) -> Tensor:
    _last_axis("gram", x)
    if x.ndim != 2:
        raise ExpressionError(f"gram() needs a list of vectors [n, 3], got shape {list(x.shape)}")
    return x @ x.T


def _trace(x: Tensor) -> Tensor:
    if x.ndim < 2 or x.shape[-1] != x.shape[-2]:
        raise ExpressionError(f"trace() needs a square matrix, got shape {list(x.shape)}")
    return x.diagonal(dim1=-2, dim2=-1).sum(-1)


#: Allowed functions: name → (number of arguments, implementation, one-line help).
FUNCTIONS: dict[str, tuple[int, Callable[..., Tensor], str]] = {
    "dot": (2, _dot, "scalar product over the last axis"),
    "cross": (2, _cross, "cross product"),
    "outer": (2, _outer, "outer product x yᵀ (a 3×3 matrix)"),
    "norm": (1, _norm, "length |x| over the last axis"),
    "sigmoid": (1, torch.sigmoid, "σ, elementwise"),
    "σ": (1, torch.sigmoid, "σ, elementwise"),
    "tanh": (1, torch.tanh, "tanh, elementwise"),
    "exp": (1, torch.exp, "exp, elementwise"),
    "relu": (1, torch.relu, "max(x, 0), elementwise"),
    "sum": (1, _atoms_reduce("sum", lambda x: x.sum(0)), "sum over the first axis (atoms for r)"),
    "mean": (1, _atoms_reduce("mean", lambda x: x.mean(0)), "mean over the first axis (atoms for r)"),
    "transpose": (1, _transpose, "swap the last two axes"),
    "gram": (1, _gram, "Gram matrix x xᵀ of a list of vectors"),
    "trace": (1, _trace, "trace of a matrix"),
}

_ALLOWED_NAMES = ", ".join(sorted(FUNCTIONS))
_BINARY = {
    ast.Add: ("+", torch.add),
    ast.Sub: ("-", torch.sub),
    ast.Mult: ("*", torch.mul),
    ast.Div: ("/", torch.div),
    ast.MatMult: ("@", torch.matmul),
}

Env = dict[str, Tensor]
Node = Callable[[Env], Tensor]


def _describe(node: ast.AST) -> str:
    names = {
        ast.Lambda: "lambda", ast.Compare: "comparisons", ast.BoolOp: "and/or", ast.IfExp: "if/else",
        ast.Dict: "dictionaries", ast.Set: "sets", ast.ListComp: "comprehensions", ast.GeneratorExp: "generators",
        ast.Starred: "*arguments", ast.JoinedStr: "strings", ast.NamedExpr: ":=",
    }
    return names.get(type(node), type(node).__name__)


def _index(node: ast.AST) -> object:
    """An index: an integer, ``:``, or a tuple of those."""
    if isinstance(node, ast.Tuple):
        return tuple(_index(e) for e in node.elts)
    if isinstance(node, ast.Slice):
        if node.lower is None and node.upper is None and node.step is None:
            return slice(None)
        raise ExpressionError("only ':' is allowed as a slice (e.g. r[:, 0])")
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        inner = _index(node.operand)
        if isinstance(inner, int):
            return -inner
    if isinstance(node, ast.Constant) and type(node.value) is int:
        return node.value
    raise ExpressionError("indices must be whole numbers or ':' (e.g. a[0], r[1], r[:, 2])")


def _compile(node: ast.AST) -> Node:
    if isinstance(node, ast.Expression):
        return _compile(node.body)
    if isinstance(node, ast.Constant):
        if type(node.value) not in (int, float):
            raise ExpressionError(f"only numbers are allowed as constants, not {node.value!r}")
        value = float(node.value)
        return lambda env: torch.tensor(value, dtype=torch.float64)
    if isinstance(node, ast.Name):
        name = node.id
        if name not in VARIABLES:
            raise ExpressionError(f"unknown name {name!r}: the inputs are a, b (vectors) and r (positions)")
        return lambda env: env[name]
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        inner = _compile(node.operand)
        sign = -1.0 if isinstance(node.op, ast.USub) else 1.0
        return lambda env: sign * inner(env)
    if isinstance(node, ast.BinOp):
        left, right = _compile(node.left), _compile(node.right)
        if isinstance(node.op, ast.Pow):
            exp = node.right
            if isinstance(exp, ast.UnaryOp) and isinstance(exp.op, ast.USub) and isinstance(exp.operand, ast.Constant):
                value = -exp.operand.value
            elif isinstance(exp, ast.Constant):
                value = exp.value
            else:
                raise ExpressionError("the exponent of ** must be a number")
            if type(value) not in (int, float) or abs(value) > _MAX_POWER:
                raise ExpressionError(f"the exponent of ** must be a number between -{_MAX_POWER} and {_MAX_POWER}")
            return lambda env: left(env) ** float(value)
        if type(node.op) not in _BINARY:
            raise ExpressionError(f"operator {type(node.op).__name__} is not allowed: use + - * / @ **")
        symbol, op = _BINARY[type(node.op)]

        def binary(env: Env) -> Tensor:
            x, y = left(env), right(env)
            try:
                return op(x, y)
            except RuntimeError:
                raise ExpressionError(f"shapes {list(x.shape)} and {list(y.shape)} do not fit together for '{symbol}'") from None

        return binary
    if isinstance(node, ast.Call):
        if not isinstance(node.func, ast.Name):
            raise ExpressionError("only plain function names can be called, e.g. dot(a, b)")
        fname = node.func.id
        if fname not in FUNCTIONS:
            raise ExpressionError(f"unknown function {fname!r}: use one of {_ALLOWED_NAMES}")
        if node.keywords:
            raise ExpressionError(f"{fname}() takes no keyword arguments")
        n_args, fn, _ = FUNCTIONS[fname]
        if len(node.args) != n_args:
            raise ExpressionError(f"{fname}() takes {n_args} argument{'s' if n_args > 1 else ''}, got {len(node.args)}")
        args = [_compile(a) for a in node.args]

        def call(env: Env) -> Tensor:
            values = [a(env) for a in args]
            try:
                return fn(*values)
            except RuntimeError:
                shapes = ", ".join(str(list(v.shape)) for v in values)
                raise ExpressionError(f"{fname}() cannot take arguments of shapes {shapes}") from None

        return call
    if isinstance(node, ast.Subscript):
        value = _compile(node.value)
        index = _index(node.slice)

        def subscript(env: Env) -> Tensor:
            x = value(env)
            try:
                return x[index]
            except IndexError:
                raise ExpressionError(f"index {ast.unparse(node.slice)} is out of range for shape {list(x.shape)}") from None

        return subscript
    if isinstance(node, (ast.List, ast.Tuple)):
        if not node.elts:
            raise ExpressionError("an empty list is not a value")
        items = [_compile(e) for e in node.elts]

        def stack(env: Env) -> Tensor:
            values = [i(env) for i in items]
            try:
                return torch.stack(torch.broadcast_tensors(*values), dim=-1 if all(v.ndim == 0 for v in values) else 0)
            except RuntimeError:
                raise ExpressionError("the entries of a list must all have the same shape") from None

        return stack
    if isinstance(node, ast.Attribute):
        raise ExpressionError(f"attribute access (.{node.attr}) is not allowed: use functions such as transpose(x), norm(x)")
    raise ExpressionError(f"{_describe(node)} is not allowed: use a, b, r, numbers, + - * / @ **, "
                          f"indexing and the functions {_ALLOWED_NAMES}")


@dataclass(frozen=True)
class Expression:
    """A parsed function ``f(a, b, r)``; call it with tensors ``[3]``, ``[3]``, ``[n_atoms, 3]``."""

    text: str
    uses: frozenset[str]  # which of a, b, r appear
    _node: Node

    def __call__(self, a: Tensor, b: Tensor, r: Tensor) -> Tensor:
        out = self._node({"a": a, "b": b, "r": r})
        if not torch.is_tensor(out):  # pragma: no cover - every node returns a tensor
            raise ExpressionError("the expression has no value")
        return out


def parse_expression(text: str) -> Expression:
    """Parse ``text`` into an :class:`Expression`; raises :class:`ExpressionError` with one line."""
    text = (text or "").strip()
    if not text:
        raise ExpressionError("type a function of a, b and r, e.g. cross(a, b)")
    if len(text) > MAX_LENGTH:
        raise ExpressionError(f"the function is {len(text)} characters long; at most {MAX_LENGTH} are allowed")
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as exc:
        raise ExpressionError(f"not a formula: {exc.msg} (at character {exc.offset or 0})") from None
    nodes = list(ast.walk(tree))
    if len(nodes) > _MAX_NODES:
        raise ExpressionError(f"the function is too long ({len(nodes)} parts; at most {_MAX_NODES})")
    uses = frozenset(n.id for n in nodes if isinstance(n, ast.Name) and n.id in VARIABLES)
    return Expression(text, uses, _compile(tree))
