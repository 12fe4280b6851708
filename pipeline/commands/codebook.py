"""``wogcode codebook``: list, show, validate and export codebooks.

    wogcode codebook list
    wogcode codebook show perry6            (or a path to a codebook or a .qdc file)
    wogcode codebook validate mybook.yaml
    wogcode codebook export perry6 --qdc perry6.qdc
"""

from __future__ import annotations

import argparse
import sys
import textwrap
from pathlib import Path

from pipeline.codebook import Code, Codebook, CodebookError, list_codebooks, load_codebook
from pipeline.export.qdc import read_qdc, write_qdc

WIDTH = 88


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``codebook`` and its four actions to the ``wogcode`` parser."""
    parser = subparsers.add_parser("codebook", help="list, show, validate and export codebooks")
    actions = parser.add_subparsers(dest="action", required=True)

    actions.add_parser("list", help="the shipped codebooks").set_defaults(func=run_list)

    show = actions.add_parser("show", help="codes, definitions and indicators of one codebook")
    show.add_argument("codebook", help="a codebook id (perry6), a YAML/JSON file, or a .qdc file")
    show.set_defaults(func=run_show)

    validate = actions.add_parser("validate", help="check a codebook file; prints OK and its hash")
    validate.add_argument("file", help="a codebook id or a YAML/JSON file")
    validate.set_defaults(func=run_validate)

    export = actions.add_parser("export", help="write a codebook as a REFI-QDA .qdc file")
    export.add_argument("codebook", help="a codebook id or a YAML/JSON file")
    export.add_argument("--qdc", required=True, type=Path, metavar="OUT.qdc", help="where to write")
    export.set_defaults(func=run_export)


def run_list(args: argparse.Namespace) -> int:
    """One line per shipped codebook: id, version, number of codes, hash, name."""
    books = list_codebooks()
    print(f"{'id':<14}{'version':<9}{'codes':>5}  {'hash':<17} name")
    for cb in books:
        print(f"{cb.id:<14}{cb.version:<9}{len(cb.codes):>5}  {cb.content_hash:<17} {cb.name}")
    return 0


def run_show(args: argparse.Namespace) -> int:
    """Print a codebook (or a .qdc file's code tree) for reading in a terminal."""
    if str(args.codebook).lower().endswith(".qdc"):
        print("\n".join(qdc_lines(args.codebook)))
    else:
        print("\n".join(codebook_lines(load_codebook(args.codebook))))
    return 0


def run_validate(args: argparse.Namespace) -> int:
    """``OK <id> <version> ...`` on stdout, or the one-line problem on stderr with exit code 1."""
    try:
        cb = load_codebook(args.file)
    except CodebookError as exc:
        print(f"wogcode: error: {exc}", file=sys.stderr)
        return 1
    print(f"OK {cb.id} {cb.version}: {len(cb.codes)} codes, hash {cb.content_hash}")
    return 0


def run_export(args: argparse.Namespace) -> int:
    """Write the .qdc file and say where."""
    cb = load_codebook(args.codebook)
    write_qdc(cb, args.qdc)
    print(f"wrote {args.qdc} ({cb.id} {cb.version}, {len(cb.codes)} codes, hash {cb.content_hash})")
    return 0


def codebook_lines(cb: Codebook) -> list[str]:
    """The readable listing of a codebook: header, then one block per code."""
    lines = [
        f"{cb.id} {cb.version}  (hash {cb.content_hash})",
        cb.name,
        *_wrap(f"Source: {cb.source.author}. {cb.source.reference}", ""),
        *_wrap(cb.description, ""),
        "",
    ]
    for code in cb.codes:
        lines += code_lines(code)
    return lines


def code_lines(code: Code) -> list[str]:
    """One code: id and names, definition, indicators, what the keyword lexicon holds."""
    stems = sum(1 for k in code.keywords if k.kind == "stem")
    english = f" / {code.name_en}" if code.name_en else ""
    lines = [f"[{code.id}] {code.name}{english}"]
    lines += _wrap(code.definition, "    ")
    if code.indicators:
        lines.append("    Indicators:")
        for indicator in code.indicators:
            lines += _wrap(indicator, "      - ", "        ")
    lines.append(
        f"    {len(code.keywords)} keywords ({stems} stems, {len(code.keywords) - stems} phrases), "
        f"{len(code.examples)} examples, {len(code.synonyms)} heading synonyms"
    )
    lines.append("")
    return lines


def qdc_lines(path: str) -> list[str]:
    """A .qdc file's code tree, indented by depth, with each description."""
    codes = read_qdc(path)
    lines = [f"{path}: {len(codes)} codes"]
    depth: dict[str, int] = {}
    for code in codes:
        depth[code["guid"]] = depth.get(code["parent"], -1) + 1 if code["parent"] else 0
        indent = "  " * depth[code["guid"]]
        marker = "" if code["is_codable"] else "  (folder)"
        lines.append(f"{indent}{code['name']}{marker}  {code['guid']}")
        if code["description"]:
            lines += _wrap(code["description"], indent + "    ")
    return lines


def _wrap(text: str, indent: str, subsequent: str | None = None) -> list[str]:
    return textwrap.wrap(
        text, WIDTH, initial_indent=indent, subsequent_indent=indent if subsequent is None else subsequent
    )
