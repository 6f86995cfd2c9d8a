"""Choosing the base unit: the real width of relative dims (PRIMER.md section 1).

The static gate sizes every child the search proposes (issue 4), so the parameter count as a
function of the base unit u is worked out once per program (`BlockParameterFormula`) instead of
re-running the shape and parameter passes for each of the fifteen or so base units the search
tries. `fit_base_unit_exact` keeps the recounting search as the reference; both give the same
Sizing for every program (tests/test_sizing_fast.py).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from primer_search.config import ModelConfig
from primer_search.dna import DNA
from primer_search.errors import ParameterBudgetError, PrimerSearchError
from primer_search.graph import (
    ENTER,
    EXIT,
    INPUT,
    Graph,
    block_parameter_count,
    infer_shapes,
    lower,
)
from primer_search.ops import REGISTRY, Kind, OpSpec


@dataclass(frozen=True)
class Sizing:
    base_unit: int
    d_model: int
    block_params: int
    total_params: int


def lm_parameter_count(graph: Graph, config: ModelConfig, base_unit: int) -> Sizing:
    """Analytic parameters of the whole LM: tied token embedding, learned positions, blocks,
    final layer norm (gamma and beta)."""
    d_model = config.model_multiplier * base_unit
    return _sizing(
        config, base_unit, block_parameter_count(graph, infer_shapes(graph, base_unit, d_model))
    )


def _sizing(config: ModelConfig, base_unit: int, block: int) -> Sizing:
    d_model = config.model_multiplier * base_unit
    return Sizing(base_unit, d_model, block, _total(config, d_model, block))


def _total(config: ModelConfig, d_model: int, block: int) -> int:
    """Token embedding, positions and the final norm's gamma and beta, d_model wide each, and
    the blocks."""
    return (config.vocab_size + config.seq_len + 2) * d_model + config.num_layers * block


def fit_base_unit(dna: DNA, config: ModelConfig) -> Sizing:
    """The base unit whose model is closest to `config.target_params` inside the range.

    The block's count is read off its formula (BlockParameterFormula): the answer of
    `fit_base_unit_exact` at about a tenth of the cost. A program with an op the formula cannot
    follow is sized by recounting."""
    graph = lower(dna)
    try:
        return _closest(BlockParameterFormula(graph, config.model_multiplier), config)
    except UntraceableOp:
        return fit_base_unit_exact(dna, config)


def fit_base_unit_exact(dna: DNA, config: ModelConfig) -> Sizing:
    """`fit_base_unit` by running the shape and parameter passes for every base unit it tries."""
    graph = lower(dna)
    multiplier = config.model_multiplier

    def block(unit: int) -> int:
        return block_parameter_count(graph, infer_shapes(graph, unit, multiplier * unit))

    return _closest(block, config)


def _closest(block_params: Callable[[int], int], config: ModelConfig) -> Sizing:
    """The search of `fit_base_unit`, given the block's parameter count per base unit.

    The count grows with the base unit (up to rounding inside branches), so a binary search finds
    the crossing and its neighbours are compared."""

    def size(unit: int) -> Sizing:
        return _sizing(config, unit, block_params(unit))

    multiplier = config.model_multiplier
    lo, hi = 1, config.max_base_unit
    while lo < hi:
        mid = (lo + hi) // 2
        if _total(config, multiplier * mid, block_params(mid)) < config.target_params:
            lo = mid + 1
        else:
            hi = mid
    candidates = [size(u) for u in range(max(1, lo - 2), min(config.max_base_unit, lo + 2) + 1)]
    inside = [s for s in candidates if config.min_params <= s.total_params <= config.max_params]
    if not inside:
        smallest, largest = size(1), size(config.max_base_unit)
        raise ParameterBudgetError(
            f"no base unit puts this program in the {config.name!r} range "
            f"[{config.min_params:,}, {config.max_params:,}] parameters: base unit 1 gives "
            f"{smallest.total_params:,}, base unit {config.max_base_unit} gives "
            f"{largest.total_params:,}, nearest found {candidates[-1].total_params:,}"
        )
    return min(inside, key=lambda s: (abs(s.total_params - config.target_params), s.base_unit))


# ---------------------------------------------------------------------------------------------
# The block's parameter count as a function of the base unit.
#
# Every width the shape pass (graph.infer_shapes) computes is a Form (k, m, c): the function
# u -> k * max(1, m * u // c). d_model is (1, model_multiplier, 1); a node reading `dim` gets
# (1, mult, copies); EXIT multiplies k by the branch; a constant width w is (w, 0, 1), so width 1
# is (1, 0, 1); None (a matrix) stays None. The ops' own rules (ops.REGISTRY) pass input widths
# through, compare them with 1 only, and build weight shapes from them and constants; so, given
# which forms equal 1 at u, each node's output is one of its inputs' forms or a constant, and each
# weight a constant times a product of forms. That holds on a whole segment of base units: a form
# (1, m, c) equals 1 exactly below u = ceil(2c / m). One symbolic pass per segment, and a count is
# a sum of a few products.
#
# The symbolic pass runs the registry's rules themselves, on stand-in widths ("markers"): each
# distinct form a node reads becomes a distinct large integer, and the result is read back. It is
# run twice, on other markers in the opposite order; a rule that computes a width or orders two
# gives different answers, reported as UntraceableOp, and sizing then recounts. (A rule testing
# two widths for equality would not be caught; none does, and tests/test_sizing_fast.py checks
# every op of the registry against the recount.)

Form = tuple[int, int, int]  # (k, m, c): k * max(1, m * u // c)
ONE: Form = (1, 0, 1)
# Per weight: (coefficient, the (m, c) of each form it multiplies).
Terms = tuple[tuple[int, tuple[tuple[int, int], ...]], ...]


class UntraceableOp(PrimerSearchError):
    """An op's shape or weight rule is not a pass-through of its widths (see above)."""


def _form(k: int, m: int, c: int) -> Form:
    g = math.gcd(m, c)
    return (k, m // g, c // g)


class BlockParameterFormula:
    """block_parameter_count(graph, infer_shapes(graph, u, multiplier * u)) as a function of the
    base unit u, for any u >= 1, read off one symbolic pass per segment of base units."""

    def __init__(self, graph: Graph, model_multiplier: int):
        self.graph = graph
        self.model_multiplier = model_multiplier
        self.segments: list[_Segment] = []

    def __call__(self, base_unit: int) -> int:
        polynomial, rounded = self.segment(base_unit).count
        total = 0
        for coefficient in polynomial:  # highest degree first
            total = total * base_unit + coefficient
        for coefficient, atoms in rounded:
            for m, c in atoms:
                # No max(1, .): a form still standing on its segment is at least 2 there (one
                # that would be 1 was settled to ONE).
                coefficient *= m * base_unit // c
            total += coefficient
        return total

    def segment(self, base_unit: int) -> _Segment:
        """The segment of `base_unit`, traced on first use."""
        for segment in self.segments:
            if segment.first <= base_unit < segment.end:
                return segment
        segment = _trace(self.graph, self.model_multiplier, base_unit)
        self.segments.append(segment)
        return segment


@dataclass(frozen=True)
class _Segment:
    """The block's count for base units in [first, end)."""

    first: int
    end: float
    terms: Terms

    @cached_property
    def count(self) -> tuple[tuple[int, ...], Terms]:
        """The terms as a polynomial in u (those whose forms divide exactly: m * u // 1 = m * u),
        its coefficients highest degree first, and the terms that round."""
        by_degree: dict[int, int] = {}
        rounded = []
        for coefficient, atoms in self.terms:
            if all(c == 1 for _, c in atoms):
                by_degree[len(atoms)] = by_degree.get(len(atoms), 0) + coefficient * math.prod(
                    m for m, _ in atoms
                )
            else:
                rounded.append((coefficient, atoms))
        degree = max(by_degree, default=0)
        return tuple(by_degree.get(d, 0) for d in range(degree, -1, -1)), tuple(rounded)


def _trace(graph: Graph, model_multiplier: int, base_unit: int) -> _Segment:
    """The block's terms on the segment [first, end) of base units around `base_unit`: the
    segment where each form the pass settled is 1 exactly where it is 1 at `base_unit`."""
    met: list[tuple[int, int]] = []  # (m, c) of each form (1, m, c) settled
    kinds: list[Kind] = []
    forms: list[Form | None] = []
    totals: dict[tuple[tuple[int, int], ...], int] = {}
    for node in graph.nodes:
        op, inputs = node.op, node.inputs
        form: Form | None
        if op == INPUT:
            kind, form = Kind.FEATURE, _settle(_form(1, model_multiplier, 1), base_unit, met)
        elif op == ENTER:
            kind, form = kinds[inputs[0]], forms[inputs[0]]
        elif op == EXIT:
            # The copies side by side: k grows by the branch, so the width is 1 only if the
            # callee's is and the branch is 1; nothing to settle.
            kind, inner = kinds[inputs[0]], forms[inputs[0]]
            k, m, c = inner or ONE
            form = None if kind is Kind.MATRIX else (k * node.branch, m, c)
        else:
            spec = REGISTRY[op]
            copies = math.prod(node.scope)
            dim = None
            if "dim" in spec.uses:
                dim = _settle(_form(1, node.mult, copies), base_unit, met)
            if len(inputs) == 1:
                p = inputs[0]
                key: tuple[Any, ...] = (op, id(kinds[p]), forms[p], dim)
            elif len(inputs) == 2:
                p, q = inputs
                key = (op, id(kinds[p]), id(kinds[q]), forms[p], forms[q], dim)
            else:  # no op of the registry today
                key = (op, *(id(kinds[p]) for p in inputs), *(forms[p] for p in inputs), dim)
            traced = _TRACED.get(key)
            if traced is None:
                in_kinds, in_forms = (
                    tuple(kinds[p] for p in inputs),
                    tuple(forms[p] for p in inputs),
                )
                traced = _trace_op(spec, in_kinds, in_forms, dim)
                if len(_TRACED) >= 1 << 16:
                    _TRACED.clear()
                _TRACED[key] = traced
            kind, form, terms = traced
            for coefficient, atoms in terms:
                totals[atoms] = totals.get(atoms, 0) + copies * coefficient
        kinds.append(kind)
        forms.append(form)
    thresholds = [-(-2 * c // m) for m, c in met]  # the first base unit where m * u // c >= 2
    first = max((t for t in thresholds if t <= base_unit), default=1)
    end = min((t for t in thresholds if t > base_unit), default=math.inf)
    return _Segment(first, end, tuple((c, atoms) for atoms, c in totals.items() if c))


def _settle(form: Form, base_unit: int, met: list[tuple[int, int]]) -> Form:
    """`form`, or ONE where it is 1 at `base_unit`; a form (1, m, c) goes into `met`, as it is 1
    below ceil(2c / m) and not from there on."""
    k, m, c = form
    if k != 1 or m == 0:
        return form  # never 1, or a constant
    met.append((m, c))
    return ONE if m * base_unit < 2 * c else form


_Traced = tuple[Kind, "Form | None", Terms]
_MARKER = 1_000_003  # markers start here: far from any width an op makes up (1, kernel sizes)
# (op, ids of the input kinds, input forms, dim form) -> what the op makes of them. Kind members
# are singletons: ids key the memo (hashing a str Enum runs Python).
_TRACED: dict[tuple[Any, ...], _Traced] = {}


def _trace_op(
    spec: OpSpec, kinds: tuple[Kind, ...], forms: tuple[Form | None, ...], dim: Form | None
) -> _Traced:
    """Run the op's shape and weight rules on marker widths, in both marker orders."""
    distinct = list(dict.fromkeys(f for f in (*forms, dim) if f is not None and f != ONE))
    n = len(distinct)
    answers = []
    # Other values in the opposite order: a width computed from a marker (d // 2, say) differs
    # between the two runs, and so does a choice made by ordering two widths.
    for markers in (range(_MARKER, _MARKER + n), range(2 * _MARKER + n, 2 * _MARKER, -1)):
        marker: dict[Form | None, int | None] = {None: None, ONE: 1}
        marker.update(zip(distinct, markers, strict=True))
        form_of = {v: f for f, v in marker.items() if f is not None and f != ONE}
        widths = tuple(marker[f] for f in forms)
        dim_width = 0 if dim is None else int(marker[dim] or 1)
        kind, width = spec.infer(kinds, widths, dim_width)
        out = None if width is None else form_of.get(width) or (width, 0, 1)
        weights = spec.weights(kinds, widths, dim_width) if spec.weighted else ()
        terms = []
        for weight in weights:
            coefficient, atoms = 1, []
            for size in weight.shape:
                k, m, c = form_of.get(size) or (size, 0, 1)
                coefficient *= k
                if m:
                    atoms.append((m, c))
            terms.append((coefficient, tuple(sorted(atoms))))
        answers.append((kind, out, tuple(terms)))
    if answers[0] != answers[1]:
        raise UntraceableOp(f"{spec.name} on {kinds} {forms} (dim {dim})")
    return answers[0]
