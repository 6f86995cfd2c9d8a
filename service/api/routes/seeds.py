"""GET /seeds, GET /seeds/{name}: the seed library (primer_search/seeds)."""

from __future__ import annotations

from fastapi import APIRouter

from primer_search.canonical import canonical_hash
from primer_search.dna import DNA
from primer_search.render import render
from primer_search.seeds import SEED_NOTES, load_seed, seed_names
from service.api.schemas import SeedPublic, SeedsPublic, SeedSummary

router = APIRouter(prefix="/seeds", tags=["seeds"])


def _summary(name: str, dna: DNA) -> SeedSummary:
    return SeedSummary(
        name=name,
        note=SEED_NOTES.get(name, ""),
        num_subprograms=len(dna.subprograms),
        num_instructions=dna.num_instructions(),
        program_hash=canonical_hash(dna),
    )


@router.get("")
def list_seeds() -> SeedsPublic:
    data = [_summary(name, load_seed(name)) for name in seed_names()]
    return SeedsPublic(data=data, count=len(data))


@router.get("/{name}", responses={404: {"description": "No seed of that name"}})
def get_seed(name: str) -> SeedPublic:
    """The seed's DNA and its readable code. An unknown name is a 404 listing the seeds."""
    dna = load_seed(name)  # UnknownSeedError -> 404
    return SeedPublic(**_summary(name, dna).model_dump(), dna=dna.to_dict(), code=render(dna))
