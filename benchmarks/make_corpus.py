"""Make a deterministic synthetic fieldwork corpus for benchmarks.

    python benchmarks/make_corpus.py N SEED [--out DIR] [--novel]

Recombines the sample corpus's interview turns, speakers, agencies and cities
into N transcripts (N=200 gives tens of thousands of units).  The same N and
SEED always give byte-identical files.  Recombined turns repeat, which the
encoder's de-duplication and cache exploit; ``--novel`` makes every sentence
of every answer distinct (a numbered field-note clause before its final
punctuation), so the encoder meets each one as new text, as in real fieldwork.
"""

from __future__ import annotations

import argparse
import random
import re
from itertools import count
from pathlib import Path

from pipeline.ingest.batch import ingest
from pipeline.ingest.corpus import plan_corpus
from pipeline.paths import REPO_ROOT

SAMPLE = REPO_ROOT / "corpora" / "sample"
TURNS_PER_TRANSCRIPT = (40, 90)
SENTENCE_END = re.compile(r"([.!?]+)(\s|$)")


def sample_turns() -> tuple[list[str], list[str], list[tuple[str, str, str]]]:
    """Interviewer turns, informant turns, and (informant, agency, city) triples from the sample corpus."""
    result = ingest(plan_corpus(SAMPLE))
    docs = {d.doc_id: d for d in result.documents}
    questions: dict[str, str] = {}
    answers: dict[str, str] = {}
    people: set[tuple[str, str, str]] = set()
    for unit in result.units:
        if unit.kind != "utterance":
            continue
        target = questions if unit.speaker_role == "interviewer" else answers
        block = target.get(unit.block_id, "")
        target[unit.block_id] = f"{block} {unit.text}".strip() if block else unit.text
        if unit.speaker_role == "informant" and unit.agency and unit.city:
            people.add((unit.speaker, unit.agency, unit.city))
    assert docs, "the sample corpus is empty"
    return sorted(questions.values()), sorted(answers.values()), sorted(people)


def made_novel(answer: str, numbers: count) -> str:
    """``answer`` with a numbered clause before each sentence's final punctuation: every sentence distinct."""
    answer = answer if SENTENCE_END.search(answer) else answer + "."
    return SENTENCE_END.sub(lambda m: f", menurut catatan lapangan {next(numbers)}{m.group(1)}{m.group(2)}", answer)


def transcript(rng: random.Random, questions: list[str], answers: list[str],
               person: tuple[str, str, str], index: int, numbers: count | None = None) -> str:
    """One synthetic transcript with a header block and alternating P:/I: turns (``numbers``: novel answers)."""
    name, agency, city = person
    lines = [f"Kota: {city}", f"Informan: {name} {index:03d}", f"Instansi: {agency}",
             "Kerangka: perry6", f"Tanggal: 2025-{1 + index % 12:02d}-{1 + index % 28:02d}", ""]
    for _ in range(rng.randint(*TURNS_PER_TRANSCRIPT) // 2):
        lines.append(f"P: {rng.choice(questions)}")
        answer = rng.choice(answers)
        lines.append(f"I: {made_novel(answer, numbers) if numbers is not None else answer}")
    return "\n".join(lines) + "\n"


def make_corpus(n: int, seed: int, out: Path, novel: bool = False) -> list[Path]:
    """Write N transcripts to ``out`` and return their paths."""
    rng = random.Random(seed)
    questions, answers, people = sample_turns()
    numbers = count(1) if novel else None
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        path = out / f"wawancara_{i:05d}.txt"
        path.write_text(transcript(rng, questions, answers, rng.choice(people), i, numbers), encoding="utf-8")
        paths.append(path)
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n", type=int)
    parser.add_argument("seed", type=int)
    parser.add_argument("--out", type=Path, default=None, help="default: runs/bench-corpus-N-SEED")
    parser.add_argument("--novel", action="store_true", help="every answer sentence distinct (see above)")
    args = parser.parse_args()
    out = args.out or REPO_ROOT / "runs" / f"bench-corpus-{args.n}-{args.seed}"
    paths = make_corpus(args.n, args.seed, out, args.novel)
    print(f"{len(paths)} transcripts -> {out}")


if __name__ == "__main__":
    main()
