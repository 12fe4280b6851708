"""``wogcode run CORPUS --codebook ID --out DIR [--pseudonymise]``: the main job, end to end.

Before any work starts, the codebook, the model folder, the output folder and
the pseudonym map are checked, so a mistake costs seconds, not an hour: each
gives one line naming the path and exit code 2.
"""

from __future__ import annotations

import argparse
import logging
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pipeline.ingest.corpus import CorpusPlan


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``run`` sub-command."""
    parser = sub.add_parser("run", help="ingest, code, aggregate and export a corpus (the main job)")
    parser.add_argument("corpus", type=Path, help="a folder of transcripts/theses (walked recursively)")
    parser.add_argument("--codebook", required=True, help="codebook id (perry6, tamtanus, sudrajat, mpp_factors) or file")
    parser.add_argument("--out", type=Path, required=True, help="run folder to write")
    parser.add_argument("--model", default="default", help="'default' (shipped model), 'lexicon', or a model folder")
    parser.add_argument("--max-mb", type=float, default=100.0, help="skip files larger than this (MB)")
    parser.add_argument(
        "--pseudonymise", action="store_true",
        help="replace informants, other named people, phone numbers, e-mails and NIK/NIP numbers by stable "
             "pseudonyms (Informan-01, Orang-01, [TELEPON], ...) in every output")
    parser.add_argument(
        "--pseudonym-map", type=Path, default=None,
        help="where the real-name -> pseudonym map is kept and reused (implies --pseudonymise; "
             "default: OUT/private/pseudonyms.csv); keep it away from what you share")
    parser.add_argument("--no-resume-cache", dest="resume_cache", action="store_false",
                        help="keep no copy of the corpus text in the resume cache (a killed run then starts over)")
    parser.add_argument("--force", action="store_true",
                        help="run even when OUT already holds the outputs of this exact run")
    parser.add_argument("--encoder-backend", choices=("openvino", "onnx", "onnx-int8", "torch"), default=None,
                        help="how the default encoder runs (default: openvino, bfloat16 on CPUs that have it, or "
                             "$WOGCODE_ENCODER_BACKEND); onnx: float32 under ONNX Runtime; onnx-int8: ~1.8x faster "
                             "than float32 on any CPU, with the same gold macro-F1 but ~2%% of predictions changed")
    parser.add_argument("--dask-address", default=None,
                        help="run the per-document tasks on an existing Dask cluster (tcp://host:8786)")
    parser.add_argument("--dask-local", type=int, default=0, metavar="N",
                        help="start a local Dask cluster with N workers (on 2 cores this adds start-up, not speed)")
    parser.set_defaults(func=run)


def summary_lines(counts: Mapping[str, int], timings: dict[str, float]) -> list[str]:
    """Coded share per code (code -> number of units) and time per stage, for the terminal."""
    total = max(sum(counts.values()), 1)
    lines = [f"  {code:<28} {n:>6}  {n / total:6.1%}" for code, n in sorted(counts.items())]
    lines.append("time: " + ", ".join(f"{stage} {seconds:.1f}s" for stage, seconds in timings.items()))
    return lines


def preflight(args: argparse.Namespace) -> None:
    """Fail fast, with one line, on a bad corpus path, codebook, model folder, output folder or map."""
    from pipeline.atomic import check_output_folder
    from pipeline.classify.registry import model_identity

    if not args.corpus.exists():
        raise FileNotFoundError(f"{args.corpus}: no such file or folder")
    model_identity(args.model, args.codebook)  # ModelFolderError / CodebookError are one-line ValueErrors
    check_output_folder(args.out)
    if args.pseudonym_map is not None:
        from pipeline.privacy import read_pseudonym_map

        if args.pseudonym_map.resolve().parent == args.out.resolve():
            raise ValueError(f"{args.pseudonym_map}: the pseudonym map must not sit among the run's exports; "
                             f"keep it in a folder of its own (default: {args.out / 'private'})")
        read_pseudonym_map(args.pseudonym_map)
        check_output_folder(args.pseudonym_map.parent, "the pseudonym map's folder")


def current_run_key(args: argparse.Namespace, plan: CorpusPlan) -> str:
    """The run key of these arguments over the corpus ``plan`` (see :mod:`pipeline.up_to_date`)."""
    from pipeline.classify.registry import model_identity
    from pipeline.codebook import load_codebook
    from pipeline.up_to_date import run_key

    # the pseudonym map is not part of the key: a reused map keeps everyone's pseudonym, so it does not change
    # the outputs of a corpus whose people it already holds
    options = {"max_mb": args.max_mb, "pseudonymise": bool(args.pseudonymise or args.pseudonym_map)}
    identity = model_identity(args.model, args.codebook)
    return run_key(plan, identity, load_codebook(args.codebook).content_hash, options)


def run(args: argparse.Namespace) -> int:
    """Run the flow, then print what was read, how units were coded, and where the report is."""
    with encoder_backend(args.encoder_backend):  # before the encoder loads (in the preflight)
        return _run(args)


@contextmanager
def encoder_backend(name: str | None) -> Iterator[None]:
    """Within the block, the default encoder runs on ``name`` (None: unchanged)."""
    from pipeline.classify.encoder import BACKEND_ENV

    saved = os.environ.get(BACKEND_ENV)
    if name:
        os.environ[BACKEND_ENV] = name
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop(BACKEND_ENV, None)
        else:
            os.environ[BACKEND_ENV] = saved


def _run(args: argparse.Namespace) -> int:
    """The body of :func:`run`."""
    from pipeline.flows.api_server import api_server, launch

    server = launch()  # Prefect's API server boots on the other core while this process gets ready
    preflight(args)
    from pipeline.up_to_date import finished_run

    from pipeline.ingest.corpus import plan_corpus

    plan = plan_corpus(args.corpus)
    key = current_run_key(args, plan)
    manifest = None if args.force else finished_run(args.out, key)
    if manifest is not None:
        if server is not None:
            server.stop()
        counts = manifest.get("counts", {})
        print(f"up to date: {args.out} already holds this run (same corpus, model, codebook and options; "
              f"outputs unchanged); --force runs it again")
        print(f"{counts.get('documents', '?')} document(s), {counts.get('units', '?')} unit(s), "
              f"{counts.get('coded', '?')} coded")
        print(f"report: {(args.out / 'report.html').resolve()}")
        return 0
    from pipeline.classify.registry import load_coder
    from pipeline import workers

    lexicon_only = workers.codes_in_workers(load_coder(args.model, args.codebook))
    n_workers = workers.worker_count(plan.total_bytes(), lexicon_only)
    from prefect.settings import PREFECT_LOCAL_STORAGE_PATH

    from pipeline.flows.head_start import head_start
    from pipeline.flows.run import run_flow, warm_up, with_task_runner
    from pipeline.gc_tuning import tune_gc

    # The workers' forkserver imports the pipeline while this process waits for the API server: started before this
    # process's own imports, the three competed for two cores and the server answered ~0.5 s later.
    workers.prestart(n_workers)
    if not n_workers:  # else the workers segment, and this process never needs spaCy
        warm_up()
    tune_gc()  # everything is imported now
    logging.getLogger("prefect").setLevel(logging.CRITICAL)  # errors reach the user as one line, below
    map_path = str(args.pseudonym_map) if args.pseudonym_map else None
    flow = with_task_runner(run_flow, args.dask_address, args.dask_local)
    max_bytes = int(args.max_mb * 2**20)
    local = not (args.dask_address or args.dask_local)  # Dask runs the ingest tasks elsewhere: no head start
    store = Path(PREFECT_LOCAL_STORAGE_PATH.value()) if args.resume_cache else None
    try:
        with workers.worker_processes(n_workers), head_start(plan, max_bytes, args.out, store, enabled=local), \
                api_server(server):
            result = flow(str(args.corpus), args.codebook, str(args.out), args.model, max_bytes,
                          pseudonymise=args.pseudonymise, pseudonym_map=map_path, run_key=key,
                          resume_cache=args.resume_cache)
    except OSError as exc:  # anything not already turned into a one-line error (e.g. the map's folder)
        raise ValueError(f"{exc.filename or args.out}: {exc.strerror or exc}") from None
    for line in result.report_lines:
        print(line)
    print(f"{result.n_documents} document(s), {result.n_units} unit(s), coded with {args.codebook}:")
    for line in summary_lines(result.code_counts(), result.timings):
        print(line)
    if result.pseudonym_map is not None:
        print(f"pseudonymised; the map of real names is PRIVATE: {result.pseudonym_map.resolve()}")
    print(f"report: {(result.out / 'report.html').resolve()}")
    return 0
