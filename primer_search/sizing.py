"""Choosing the base unit: the real width of relative dims (PRIMER.md section 1)."""

from __future__ import annotations

from dataclasses import dataclass

from primer_search.config import ModelConfig
from primer_search.dna import DNA
from primer_search.errors import ParameterBudgetError
from primer_search.graph import Graph, block_parameter_count, infer_shapes, lower


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
    block = block_parameter_count(graph, infer_shapes(graph, base_unit, d_model))
    total = (
        config.vocab_size * d_model + config.seq_len * d_model + config.num_layers * block
    ) + 2 * d_model
    return Sizing(base_unit, d_model, block, total)


def fit_base_unit(dna: DNA, config: ModelConfig) -> Sizing:
    """The base unit whose model is closest to `config.target_params` inside the range.

    The count grows with the base unit (up to rounding inside branches), so a binary search finds
    the crossing and its neighbours are compared."""
    graph = lower(dna)

    def size(unit: int) -> Sizing:
        return lm_parameter_count(graph, config, unit)

    lo, hi = 1, config.max_base_unit
    while lo < hi:
        mid = (lo + hi) // 2
        if size(mid).total_params < config.target_params:
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
