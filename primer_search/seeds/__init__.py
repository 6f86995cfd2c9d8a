"""The seed library: reference programs shipped as DNA JSON (PRIMER.md section 3).

Each `<name>.json` in this folder is a seed; `SEED_NOTES` says what each one is. All are written
with the primitive ops only, by ONE authoring script, tools/write_seeds.py (tests/test_seeds.py
checks that the files are what it writes). Every seed is the paper's 10-subprogram Transformer
with some subprograms replaced, so the script reads as the list of differences.

Where the full Primer comes from: the paper's abstract attributes Primer's gains mostly to two
changes (squared ReLU, a depthwise conv after each Q, K, V projection: Primer-EZ). The authors'
released code (github.com/google-research/google-research, primer/: gin/models/medium_primer.gin,
small_primer.gin for LM1B, t5_models.py) defines "Primer" as Primer-EZ plus exactly three
switches: MDHA.share_qk_rep, PrePostNormLayerStack and sublayer_prime_norm. Those three are our
`primer` seed. We could not retrieve the text of the paper's appendix, so any further change it
may describe for the searched program is not included (and not claimed).
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from pathlib import Path

from primer_search.dna import DNA, check_dna, parse_dna
from primer_search.errors import UnknownSeedError

SEED_NOTES: dict[str, str] = {
    "transformer": "The paper's 10-subprogram Transformer (pre-norm, ReLU FFN, 8 heads).",
    "transformer_gelu": "Transformer with GELU, tanh approximation, in the FFN.",
    "transformer_plus_plus": (
        "Transformer++: RMSNorm (no mean subtraction, no shift) and a bias-free SwiGLU FFN "
        "(swish(a) * b), d_ff multiplier 24 instead of 32 to keep the parameter count."
    ),
    "primer_ez": (
        "Primer-EZ: squared ReLU in the FFN and a causal depthwise 3x1 conv after each Q, K, V "
        "projection (init 0.5 on t, 0.5/3 on t-1, t-2, as in the released T5 code)."
    ),
    "primer": (
        "Primer: Primer-EZ plus the three further switches of the authors' released Primer "
        "config (google-research primer/gin/models/medium_primer.gin): shared Q/K depthwise "
        "representation (K = dconv(x Wk), Q = K Wq; our Wq is one head-width matrix per head, the "
        "released one a d_model x d_model matrix across heads, because a branched call cannot "
        "slice its input per head); alternating pre/post norm (attention pre-norm, FFN "
        "x + norm(ffn(x))); primer_norm (variance as mean(x (x - mean)), the same function as "
        "layer norm up to rounding). Nothing else: further changes the paper may describe but "
        "the code does not ship are left out."
    ),
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
