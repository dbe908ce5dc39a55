"""Countdown: the equation in <answer> must use each given number exactly once and hit the target.

The expression is parsed with `ast` and evaluated over exact fractions by walking the tree:
only numbers, + - * /, unary minus and parentheses are accepted. Nothing is ever `eval`ed.
The reference is written "[n1, n2, ...] -> target".
"""

from __future__ import annotations

import ast
import re
from collections import Counter
from fractions import Fraction

from r1lab.verifiers.base import Grade, answer_tag

_REF = re.compile(r"\[([\d,\s]*)\]\s*->\s*(-?\d+)")
_OPS = {ast.Add: Fraction.__add__, ast.Sub: Fraction.__sub__,
        ast.Mult: Fraction.__mul__, ast.Div: Fraction.__truediv__}


def parse_reference(reference: str) -> tuple[list[int], int]:
    m = _REF.fullmatch(reference.strip())
    if not m:
        raise ValueError(f"countdown reference must look like '[3, 7, 12] -> 33', got {reference!r}")
    return [int(x) for x in m.group(1).replace(",", " ").split()], int(m.group(2))


def evaluate(expr: str) -> tuple[Fraction, list[int]] | None:
    """Exact value of an arithmetic expression and the integer literals it uses; None if invalid."""
    if len(expr) > 200:
        return None
    try:
        tree = ast.parse(expr.replace("×", "*").replace("÷", "/"), mode="eval").body
        used: list[int] = []
        return _walk(tree, used), used
    except (SyntaxError, ValueError, ZeroDivisionError, RecursionError):
        return None


def _walk(node: ast.AST, used: list[int]) -> Fraction:
    if isinstance(node, ast.Constant) and type(node.value) is int:
        used.append(node.value)
        return Fraction(node.value)
    if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
        return _OPS[type(node.op)](_walk(node.left, used), _walk(node.right, used))
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return -_walk(node.operand, used)
    raise ValueError("unsupported syntax")


def verify_countdown(response: str, reference: str) -> Grade:
    numbers, target = parse_reference(reference)
    raw = answer_tag(response)
    if raw is None:
        return Grade(0.0, None)
    expr = raw.split("=")[0].strip()  # "3 * 7 + 12 = 33" is accepted; the value is recomputed
    result = evaluate(expr)
    if result is None:
        return Grade(0.0, None)
    value, used = result
    ok = Counter(used) == Counter(numbers) and value == target
    return Grade(float(ok), expr)


def same_equation(a: str, b: str) -> bool:
    """Two extracted equations are one answer when they use the same numbers and have the same
    value (what the verifier checks); unreadable ones only when equal as text."""
    ra, rb = evaluate(a), evaluate(b)
    if ra is None or rb is None:
        return a.replace(" ", "") == b.replace(" ", "")
    return ra[0] == rb[0] and Counter(ra[1]) == Counter(rb[1])
