"""Peak memory (RSS) of the main job on a big transcript and on a folder of many small files.

    .venv/bin/python benchmarks/memory_check.py [--mb 50] [--files 10000] [--informants K] [--stage run|ingest]

Generates, in a temp folder, (1) one interview transcript of ``--mb`` MB with
ordinary speaker turns and (2) ``--files`` small interview files (each
unique), then runs each case in a fresh Python process and prints the
resident memory after imports, the peak during the work, and what is left
when it returns.  ``--stage run`` (the default) is the whole main job with the
lexicon model (:func:`pipeline.flows.run.run_flow`: ingest, code, aggregate,
export into a temp run folder; Prefect's own server process is not counted);
``--stage ingest`` is :func:`pipeline.ingest.batch.ingest` alone, which keeps
every document and unit in memory.  Each case also runs at a tenth of its
size, so the growth per MB or per file can be read off.

Linux only (peak RSS is read from /proc/self/status after resetting it via
/proc/self/clear_refs).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

TURNS = (
    "P: Bagaimana koordinasi antar instansi di MPP selama ini, Pak?\n\n",
    "I: Koordinasinya lumayan, ada rapat tiap bulan dan grup WA. Tapi datanya belum sinkron sama "
    "Dukcapil, jadi warga kadang bolak-balik ke kantor induk.\n\n",
    "P: Apakah ada kendala teknis seperti jaringan atau server?\n\n",
    "I: Kadang server gangguan, kalo udah gitu antrean numpuk. Petugas kami sabar aja jelasin ke warga.\n\n",
)

#: Opens every child process: common imports, ``status_mb`` and ``report`` (prints the JSON line).
PRELUDE = r"""
import json, re, sys, tempfile, time
from pathlib import Path
sys.path.insert(0, sys.argv[2])
from pipeline.ingest.batch import units_from_text

def status_mb(key):
    return int(re.search(rf"{key}:\s+(\d+) kB", Path("/proc/self/status").read_text()).group(1)) / 1024

def report(documents, units, seconds, failed):
    print(json.dumps({"documents": documents, "units": units, "seconds": seconds, "baseline_mb": baseline,
                      "peak_mb": status_mb("VmHWM"), "after_mb": status_mb("VmRSS"), "failed": failed}))
"""

#: After a child's own imports: load spaCy and the lexicons, take the baseline, reset the peak (VmHWM).
START = r"""
units_from_text("P: Halo, apa kabar?\nI: Baik, koordinasi jalan.\n")
baseline = status_mb("VmRSS")
Path("/proc/self/clear_refs").write_text("5")
"""

#: Ingest one folder (every document and unit kept in memory).
CHILD_INGEST = PRELUDE + r"""
from pipeline.ingest.batch import ingest
from pipeline.ingest.corpus import plan_corpus
""" + START + r"""
start = time.perf_counter()
result = ingest(plan_corpus(Path(sys.argv[1])))
report(len(result.documents), len(result.units), time.perf_counter() - start, result.report.failed[:3])
"""

#: The whole main job on one folder, with a resume cache of its own.
CHILD_RUN = PRELUDE + r"""
from prefect.settings import PREFECT_LOCAL_STORAGE_PATH, temporary_settings
from pipeline.flows.run import run_flow
""" + START + r"""
with tempfile.TemporaryDirectory() as tmp, temporary_settings({PREFECT_LOCAL_STORAGE_PATH: tmp + "/cache"}):
    start = time.perf_counter()
    result = run_flow(sys.argv[1], "perry6", tmp + "/run", "lexicon")
    failed = [line.strip() for line in result.report_lines if line.lstrip().startswith("failed")][:3]
    report(result.n_documents, result.n_units, time.perf_counter() - start, failed)
"""


def write_big_transcript(folder: Path, megabytes: float) -> int:
    """One transcript of about ``megabytes`` MB; returns its size in bytes."""
    folder.mkdir(parents=True, exist_ok=True)
    header = "Kota: Kota Padang\nInforman: Bapak XY\nInstansi: DPMPTSP Kota Padang\n\n"
    block = "".join(TURNS)
    target = folder / "wawancara_panjang.txt"
    with target.open("w", encoding="utf-8") as out:
        out.write(header)
        for i in range(int(megabytes * 2**20 / len(block))):
            out.write(block.replace("Pak?", f"Pak? ({i})", 1))
    return target.stat().st_size


def write_small_files(folder: Path, count: int, informants: int = 0) -> int:
    """``count`` distinct small interviews (of ``informants`` people, 0: one each); returns their total size."""
    folder.mkdir(parents=True, exist_ok=True)
    total = 0
    for i in range(count):
        person = i % informants if informants else i
        text = f"Informan: Ibu N{person}\nInstansi: DPMPTSP\n\n" + TURNS[0].replace("Pak?", f"Pak? ({i})") + TURNS[1]
        path = folder / f"wawancara_{i:05d}.txt"
        path.write_text(text, encoding="utf-8")
        total += path.stat().st_size
    return total


def measure(folder: Path, stage: str = "run") -> dict:
    """Run ``stage`` on ``folder`` in a fresh process and return its memory report."""
    child = CHILD_RUN if stage == "run" else CHILD_INGEST
    done = subprocess.run([sys.executable, "-c", child, str(folder), str(REPO)], capture_output=True, text=True,
                          check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def line(label: str, size: int, report: dict) -> str:
    grown = report["peak_mb"] - report["baseline_mb"]
    kept = report["after_mb"] - report["baseline_mb"]
    return (f"{label:<26} {size / 2**20:8.1f} MB in {report['documents']:>6} doc(s) {report['units']:>8} units "
            f"{report['seconds']:7.1f}s   RSS after imports {report['baseline_mb']:6.0f} MB, "
            f"peak +{grown:6.0f} MB, kept +{kept:6.0f} MB")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=50.0, help="size of the big transcript (MB; 0: skip)")
    parser.add_argument("--files", type=int, default=10_000, help="number of small files (0: skip)")
    parser.add_argument("--informants", type=int, default=0,
                        help="small files come from this many informants (default: each file its own)")
    parser.add_argument("--stage", choices=["run", "ingest"], default="run",
                        help="the whole main job (default) or ingest alone")
    parser.add_argument("--keep", type=Path, help="generate into this folder and keep it")
    args = parser.parse_args()
    if not Path("/proc/self/clear_refs").exists():
        print("needs Linux (/proc/self/clear_refs)", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="wogcode-mem-") as tmp:
        root = args.keep or Path(tmp)
        cases = [
            (f"transcript {args.mb / 10:g} MB", lambda f: write_big_transcript(f, args.mb / 10), "big_small"),
            (f"transcript {args.mb:g} MB", lambda f: write_big_transcript(f, args.mb), "big"),
            (f"{args.files // 10} small files", lambda f: write_small_files(f, args.files // 10, args.informants),
             "many_small"),
            (f"{args.files} small files", lambda f: write_small_files(f, args.files, args.informants), "many"),
        ]
        for label, make, name in cases:
            if (name.startswith("big") and not args.mb) or (name.startswith("many") and not args.files):
                continue  # --mb 0 / --files 0 skips that case
            size = make(root / name)
            report = measure(root / name, args.stage)
            print(line(label, size, report), flush=True)
            if report["failed"]:
                print(f"  failed: {report['failed']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
