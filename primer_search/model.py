"""The LM scaffold around a program (PRIMER.md section 1: embeddings and softmax are outside the
DNA): token + position embedding -> N program blocks -> final norm -> softmax over the vocabulary
(output weights tied to the token embedding, as in Tensor2Tensor's Transformer)."""

from __future__ import annotations

import math
from typing import Any

import keras
import tensorflow as tf

from primer_search.compiler import ProgramBlock
from primer_search.config import ModelConfig
from primer_search.dna import DNA
from primer_search.sizing import Sizing, fit_base_unit


class DecoderLM(keras.Model):
    """tokens (B, T) int -> logits (B, T, vocab)."""

    def __init__(self, dna: DNA, config: ModelConfig, sizing: Sizing | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        self.config = config
        self.sizing = sizing or fit_base_unit(dna, config)
        d_model = self.sizing.d_model
        self.d_model = d_model
        self.token_embedding = keras.layers.Embedding(
            config.vocab_size,
            d_model,
            embeddings_initializer=keras.initializers.RandomNormal(stddev=d_model**-0.5),
            name="token_embedding",
        )
        self.position_embedding = keras.layers.Embedding(
            config.seq_len,
            d_model,
            embeddings_initializer=keras.initializers.RandomNormal(stddev=0.02),
            name="position_embedding",
        )
        self.blocks = [self.make_block(dna, i) for i in range(config.num_layers)]
        self.final_norm = keras.layers.LayerNormalization(epsilon=1e-6, name="final_norm")

    def call(self, tokens: Any) -> Any:
        length = tf.shape(tokens)[1]
        x = self.token_embedding(tokens) * math.sqrt(self.d_model)  # (B, T, D)
        x = x + self.position_embedding(tf.range(length))[None]  # (B, T, D)
        for block in self.blocks:
            x = block(x)
        x = self.final_norm(x)
        # Tied weights: the embedding is scaled up by sqrt(d) on the way in, so the logits are
        # scaled down by sqrt(d) on the way out (as T5 does); without it the untrained model
        # predicts its current token with logits of about sqrt(d) and starts far above uniform.
        logits = tf.matmul(x, self.token_embedding.embeddings, transpose_b=True)  # (B, T, V)
        return logits * (self.d_model**-0.5)

    def make_block(self, dna: DNA, index: int) -> keras.layers.Layer:
        """Block `index` of the stack. reference.ReferenceLM overrides it with hand-written Keras
        blocks, so that the baseline of the benchmark shares this scaffold exactly."""
        return ProgramBlock(dna, self.sizing.base_unit, self.d_model, name=f"block_{index}")

    def build_for_config(self) -> DecoderLM:
        """Create every variable by running one dummy batch."""
        self(tf.zeros((1, self.config.seq_len), dtype=tf.int32))
        return self


def build_model(dna: DNA, config: ModelConfig, sizing: Sizing | None = None) -> DecoderLM:
    return DecoderLM(dna, config, sizing).build_for_config()


def trainable_parameter_count(model: keras.Model) -> int:
    return int(sum(math.prod(v.shape) for v in model.trainable_variables))
