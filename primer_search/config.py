"""Model configuration: a frozen dataclass with named presets (nanoGPT style)."""

from __future__ import annotations

from dataclasses import dataclass, replace

from primer_search.errors import ConfigError


@dataclass(frozen=True)
class ModelConfig:
    """The LM scaffold around a program: embeddings, N blocks, final norm, tied softmax.

    d_model is `model_multiplier` base units; the base unit is chosen per program so the whole
    model lands in [min_params, max_params], as close to `target_params` as it can (PRIMER.md
    section 1: the paper's range is 32M-38M).
    """

    name: str
    vocab_size: int
    seq_len: int
    num_layers: int
    min_params: int
    max_params: int
    target_params: int
    model_multiplier: int = 8
    max_base_unit: int = 1024

    def __post_init__(self) -> None:
        for field_name in ("vocab_size", "seq_len", "num_layers", "model_multiplier"):
            if getattr(self, field_name) < 1:
                raise ConfigError(f"{field_name} must be >= 1, got {getattr(self, field_name)}")
        if not self.min_params <= self.target_params <= self.max_params:
            raise ConfigError(
                f"target_params {self.target_params} must lie in "
                f"[{self.min_params}, {self.max_params}]"
            )

    def with_vocab(self, vocab_size: int) -> ModelConfig:
        return replace(self, vocab_size=vocab_size)


PRESETS: dict[str, ModelConfig] = {
    # CPU: tests and the demo. About 1.5M parameters for the Transformer seed.
    "tiny": ModelConfig(
        name="tiny",
        vocab_size=2048,
        seq_len=64,
        num_layers=3,
        min_params=1_000_000,
        max_params=3_000_000,
        target_params=1_500_000,
    ),
    # The paper's candidate size (PRIMER.md section 4): 6 layers, 32K vocabulary, 32M-38M
    # parameters; the Transformer seed gets d_model 512, d_ff 2048, 8 heads of 64.
    "paper": ModelConfig(
        name="paper",
        vocab_size=32_000,
        seq_len=64,
        num_layers=6,
        min_params=32_000_000,
        max_params=38_000_000,
        target_params=35_000_000,
    ),
}


def get_preset(name: str) -> ModelConfig:
    if name not in PRESETS:
        raise ConfigError(f"unknown preset {name!r}; available: {', '.join(PRESETS)}")
    return PRESETS[name]
