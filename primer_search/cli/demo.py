"""`primer-search demo` (`make demo`): a real, small search on the embedded defaults.

Everything is real and nothing is printed that did not happen: the built-in corpus is generated
and tokenized (cached after the first run), each candidate is a mutated Transformer trained with
TensorFlow under a wall-clock budget, and regularized evolution picks the parents. This version
drives the engine in this process; the service (SQL store, Ray workers, dashboard) wraps the same
engine and trainer (issue 5).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer

from primer_search.cli._console import console, reported_errors
from primer_search.config import get_preset
from primer_search.dna import DNA


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)


def demo(
    evaluations: Annotated[
        int, typer.Option("--evaluations", min=1, help="Candidates to train.")
    ] = 12,
    population: Annotated[int, typer.Option("--population", min=2)] = 6,
    tournament: Annotated[int, typer.Option("--tournament", min=1)] = 3,
    budget: Annotated[str, typer.Option("--budget", help="Training budget per candidate.")] = "8s",
    seed: Annotated[int, typer.Option("--seed")] = 0,
    cache_dir: Annotated[Path | None, typer.Option("--cache-dir")] = None,
) -> None:
    """Run a small real search: tiny preset, built-in corpus, a few seconds per candidate."""
    with reported_errors():
        from primer_search.data import DataSpec, default_cache_dir, open_corpus
        from primer_search.evolution import (
            EvolutionConfig,
            Outcome,
            ProposalKind,
            RegularizedEvolution,
        )
        from primer_search.gate import static_gate
        from primer_search.render import render
        from primer_search.seeds import load_seed
        from primer_search.training import get_train_preset, parse_budget, train_candidate

        model_config = get_preset("tiny")
        train_config = get_train_preset("tiny")
        parsed_budget = parse_budget(budget)
        # A smaller fixed validation set than the default keeps evaluation cheap on a laptop.
        spec = DataSpec(
            source="builtin", vocab_size=model_config.vocab_size, validation_tokens=16_384
        )
        console.print(
            "[bold]primer-search demo[/]: opening the built-in corpus "
            "(generated and tokenized on the first run, then cached)"
        )
        corpus = open_corpus(spec, cache_dir or default_cache_dir())
        model_config = replace(model_config, vocab_size=corpus.vocab_size)
        engine = RegularizedEvolution(
            load_seed("transformer"),
            EvolutionConfig(population_size=population, tournament_size=tournament, seed=seed),
            gate=static_gate(model_config),
            cache_key=f"{corpus.identity}:{model_config.name}:{parsed_budget}",
        )
        console.print(
            f"search: population {population}, tournament {tournament}, {evaluations} "
            f"evaluations of {parsed_budget} each, seed {seed}"
        )
        trained = 0
        best: tuple[float, int, DNA] | None = None  # best ever: (fitness, id, DNA)
        while trained < evaluations:
            proposal = engine.propose()
            assert proposal is not None  # sequential: nothing is ever pending here
            what = proposal.mutation.type.value if proposal.mutation else "seed copy"
            if proposal.kind is not ProposalKind.TRAIN:
                console.print(f"  #{proposal.id:<3} {what:<18} {proposal.kind.value}")
                continue
            result = train_candidate(
                proposal.dna, model_config, train_config, corpus, parsed_budget, seed=seed
            )
            trained += 1
            if result.failed:
                engine.report(proposal.id, Outcome(failed=True, reason=result.failure_reason))
                console.print(f"  #{proposal.id:<3} {what:<18} failed: {result.failure_reason}")
                continue
            assert result.fitness is not None
            engine.report(proposal.id, Outcome(fitness=result.fitness))
            if best is None or result.fitness < best[0]:
                best = (result.fitness, proposal.id, proposal.dna)
            console.print(
                f"  #{proposal.id:<3} {what:<18} log-ppl {result.fitness:.4f} "
                f"({result.steps} steps, {result.parameter_count:,} params)  "
                f"best so far {best[0]:.4f} (#{best[1]})"
            )
        if best is None:
            console.print("no candidate trained successfully")
            raise typer.Exit(1)
        c = engine.counters
        console.print(
            f"\ndone: {c.trained} trained, {c.failed} failed, {c.cache_hits} cache hits, "
            f"{c.rejected} rejected. Best: #{best[1]}, validation log-ppl {best[0]:.4f}\n"
        )
        console.print(render(best[2], show_dead=False), highlight=False)
