"""A search's best programs, as JSON (to load again: each `dna` is a DNA) or as readable code.
Shared by `GET /searches/{id}/export` and `primer-search export`, which print the same thing."""

from __future__ import annotations

from typing import Any

from primer_search.dna import parse_dna
from primer_search.render import render
from service.store import IndividualRecord, SearchStore

DEFAULT_TOP = 10


def readable_code(dna: dict[str, Any] | None) -> str | None:
    return None if dna is None else render(parse_dna(dna))


def export_json(store: SearchStore, search_id: int, top: int = DEFAULT_TOP) -> dict[str, Any]:
    """{"search": id, name, status, "programs": best first, each with rank, iid, fitness,
    perplexity, parameter count, hash and DNA}. Only fully trained individuals rank."""
    search = store.get_search(search_id)
    programs = [
        {
            "rank": rank,
            "iid": r.iid,
            "fitness": r.fitness,
            "perplexity": r.perplexity,
            "parameter_count": r.parameter_count,
            "program_hash": r.program_hash,
            "dna": r.dna,
        }
        for rank, r in enumerate(store.best(search_id, top), start=1)
    ]
    return {
        "search": {"id": search.id, "name": search.name, "status": search.status.value},
        "programs": programs,
    }


def export_code(store: SearchStore, search_id: int, top: int = DEFAULT_TOP) -> str:
    """The same programs as code, each under a comment line naming it."""
    search = store.get_search(search_id)
    best = store.best(search_id, top)
    parts = [f"# search {search.id} ({search.name}): {len(best)} best program(s)\n"]
    for rank, r in enumerate(best, start=1):
        parts.append(f"\n# rank {rank}: individual {r.iid}, {_describe(r)}\n")
        parts.append(readable_code(r.dna) or "# (no DNA stored)\n")
    return "".join(parts)


def _describe(r: IndividualRecord) -> str:
    params = f", {r.parameter_count:,} parameters" if r.parameter_count is not None else ""
    return f"fitness {r.fitness:.4f}{params}, hash {r.program_hash}"
