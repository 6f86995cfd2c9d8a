"""The seed library: reference programs shipped as DNA JSON (PRIMER.md section 3).

Each `<name>.json` in this folder is a seed; `SEED_NOTES` says what each one is. All are written
with the primitive ops only.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from pathlib import Path

from primer_search.dna import DNA, check_dna, parse_dna
from primer_search.errors import UnknownSeedError

SEED_NOTES: dict[str, str] = {
    "transformer": "The paper's 10-subprogram Transformer (pre-norm, ReLU FFN, 8 heads).",
    "transformer_gelu": "Transformer with GELU (tanh approximation) in the FFN.",
    "transformer_plus_plus": "Transformer++: RMSNorm and SwiGLU, d_ff multiplier 24 (not 32).",
    "primer_ez": "Primer-EZ: squared ReLU, causal depthwise 3x1 conv after each Q, K, V.",
    "primer": "Primer: Primer-EZ plus the extra changes listed in the README.",
}


def seed_names() -> list[str]:
    folder = resources.files(__package__)
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".json"))


@cache
def load_seed(name: str) -> DNA:
    """The seed called `name`, validated."""
    if name not in seed_names():
        raise UnknownSeedError(f"unknown seed {name!r}; available: {', '.join(seed_names())}")
    text = resources.files(__package__).joinpath(f"{name}.json").read_text()
    return check_dna(parse_dna(text))


def load_program(name_or_path: str) -> DNA:
    """A seed by name, or a DNA from a JSON file path (validated either way)."""
    if name_or_path in seed_names():
        return load_seed(name_or_path)
    path = Path(name_or_path)
    if not path.is_file():
        raise UnknownSeedError(
            f"{name_or_path!r} is neither a seed ({', '.join(seed_names())}) nor a DNA file"
        )
    try:
        text = path.read_text()
    except OSError as exc:
        raise UnknownSeedError(f"cannot read {path}: {exc}") from None
    return check_dna(parse_dna(text))
