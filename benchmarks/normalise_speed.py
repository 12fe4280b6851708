"""How fast is normalisation?  Units/s and tokens/s for ~20k sentence units.

    .venv/bin/python benchmarks/normalise_speed.py [--units 20000] [--seeds ../shared/seeds]

The units are sentences cut from the seed theses (with their PDF artefacts:
page numbers, broken hyphens, markdown) mixed with interview-style sentences
built from the informal lexicon, so both the clean and the messy paths run.
Reported: a cold pass (lexicons loaded, Sastrawi built, every word stemmed for
the first time) and a warm pass over the same units (per-word memo hits), which
is what a long corpus run mostly sees.  The lexicon-only pipeline's target is
10,000 units/s overall, so normalise() must be several times faster than that.
"""

from __future__ import annotations

import argparse
import random
import re
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from pipeline.normalise import normalise  # noqa: E402
from pipeline.normalise.clean import needs_cleaning  # noqa: E402
from pipeline.normalise.lexicon_tables import informal_words  # noqa: E402

# Interview-style frames; {w} slots take informal words and seed vocabulary.
FRAMES = (
    "{w} sih kalo {w} {w} kita masih harus ke kantor induk.",
    "Udah, koordinasi antar instansi {w} {w} aja, karna {w} masing-masing.",
    "Gak tau juga ya, {w} {w} sering gangguan jaringan {w}.",
    "Kami berkoordinasi dengan {w} tiap bulan, tapi {w} belom {w}.",
    "Petugasnya {w} {w}, jadi warga ngurus {w} di gerai {w}.",
)


def seed_sentences(seeds: Path) -> list[str]:
    """Sentence-sized pieces of the seed texts, artefacts included."""
    sentences: list[str] = []
    for path in sorted(seeds.glob("*.txt")):
        text = path.read_text(encoding="utf-8")
        sentences += [s for s in re.split(r"(?<=[.!?])\s+(?=[A-Z])", text) if len(s.split()) >= 4]
    return sentences


def build_units(count: int, seeds: Path, rng: random.Random) -> list[str]:
    """``count`` units: half seed sentences, half generated interview sentences."""
    from_seeds = seed_sentences(seeds)
    vocabulary = sorted({w for s in from_seeds for w in re.findall(r"[^\W\d_]{3,}", s)})
    vocabulary += sorted(informal_words())
    units = []
    for i in range(count):
        if i % 2 and from_seeds:
            units.append(rng.choice(from_seeds))
        else:
            frame = rng.choice(FRAMES)
            units.append(re.sub(r"\{w\}", lambda _: rng.choice(vocabulary), frame))
    return units


def timed_pass(units: list[str]) -> tuple[float, int]:
    """CPU seconds to normalise every unit once, and the number of tokens produced."""
    tokens = 0
    start = time.process_time()
    for unit in units:
        tokens += len(normalise(unit).tokens)
    return time.process_time() - start, tokens


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, default=20_000)
    parser.add_argument("--seeds", type=Path, default=REPO.parent / "shared" / "seeds")
    args = parser.parse_args()
    if not args.seeds.is_dir():
        sys.exit(f"{args.seeds}: seed folder not found (pass --seeds)")

    units = build_units(args.units, args.seeds, random.Random(7))
    chars = sum(map(len, units))
    print(f"{len(units)} units, {chars / len(units):.0f} chars per unit on average")
    messy = [u for u in units if needs_cleaning(u)]
    plain = [u for u in units if not needs_cleaning(u)]
    print(f"{len(messy) / len(units):.0%} of units carry artefacts or line breaks to clean")
    print("CPU time of this process (the machine may be shared):")
    passes = (("cold, all", units), ("warm, all", units), ("warm, plain", plain), ("warm, messy", messy))
    for label, batch in passes:
        seconds, tokens = timed_pass(batch)
        print(
            f"  {label:12s} {seconds:6.2f} s  {len(batch) / seconds:9,.0f} units/s  "
            f"{tokens / seconds:11,.0f} tokens/s  ({tokens / len(batch):.1f} tokens per unit)"
        )


if __name__ == "__main__":
    main()
