"""primer-search: the evolutionary architecture search of the Primer paper, as a library.

The pure core: DNA programs over TF primitives (dna, ops), their lowering and compilation to a
causal decoder (graph, compiler, model), the seed library (seeds), sizing and presets (config,
sizing). It knows nothing of HTTP, SQL or Ray; `service/` and `workers/` wrap it.
"""

__version__ = "0.1.0"
