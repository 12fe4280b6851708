"""REFI-QDA codebook exchange (``.qdc``, namespace ``urn:QDA-XML:codebook:1.0``).

A codebook is written as one folder code (``isCodable="false"``, named after the
codebook) holding one codable code per code, each with its definition as the
``<Description>``.  GUIDs are uuid5 of the codebook id and code id, so the
same codebook always exports to the same file and a ``.qdpx`` project written
elsewhere can refer to the same codes (use :func:`code_guid`).
"""

from __future__ import annotations

import hashlib
import uuid
import xml.etree.ElementTree as ET
from functools import lru_cache
from pathlib import Path
from typing import Any

from defusedxml import DefusedXmlException
from defusedxml import ElementTree as SafeET

from pipeline import __version__
from pipeline.atomic import write_text
from pipeline.codebook import Codebook, CodebookError

CODEBOOK_NS = "urn:QDA-XML:codebook:1.0"

#: Fixed namespace for deterministic code GUIDs; changing it changes every exported GUID.
GUID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://wogcode.invalid/refi-qda/codes")

#: Colours given to codes that set none, in code order (distinct, readable on white).
PALETTE: tuple[str, ...] = (
    "#1F77B4", "#FF7F0E", "#2CA02C", "#D62728", "#9467BD", "#8C564B",
    "#E377C2", "#7F7F7F", "#BCBD22", "#17BECF", "#AEC7E8", "#FFBB78",
)


def uuid5_text(namespace: uuid.UUID, name: str) -> str:
    """``str(uuid.uuid5(namespace, name))``, without the UUID objects (a project makes ~5 GUIDs per coded unit)."""
    digest = bytearray(hashlib.sha1(namespace.bytes + name.encode("utf-8")).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    h = digest.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


@lru_cache(maxsize=4096)
def code_guid(codebook_id: str, code_id: str | None = None) -> str:
    """The GUID of a code (or, with ``code_id=None``, of the codebook's folder code)."""
    name = codebook_id if code_id is None else f"{codebook_id}/{code_id}"
    return uuid5_text(GUID_NAMESPACE, name)


def codes_element(cb: Codebook) -> ET.Element:
    """The ``<Codes>`` element for a codebook, with plain (unprefixed) tag names.

    The enclosing root declares the namespace with an ``xmlns`` attribute, so the
    same element fits a ``.qdc`` ``<CodeBook>`` and a ``.qdpx`` project's ``<CodeBook>``.
    """
    codes = ET.Element("Codes")
    folder = ET.SubElement(codes, "Code", {"guid": code_guid(cb.id), "name": cb.name, "isCodable": "false"})
    ET.SubElement(folder, "Description").text = cb.description
    for index, code in enumerate(cb.codes):
        attributes = {
            "guid": code_guid(cb.id, code.id),
            "name": code.name,
            "isCodable": "true",
            "color": code.color or PALETTE[index % len(PALETTE)],
        }
        element = ET.SubElement(folder, "Code", attributes)
        ET.SubElement(element, "Description").text = code.definition
    return codes


def codebook_to_qdc(cb: Codebook) -> str:
    """The codebook as a REFI-QDA ``.qdc`` XML document (UTF-8 declared, LF line ends)."""
    origin = f"wogcode {__version__}: {cb.id} {cb.version} ({cb.content_hash})"
    root = ET.Element("CodeBook", {"xmlns": CODEBOOK_NS, "origin": origin})
    root.append(codes_element(cb))
    ET.indent(root, space="  ")
    body = ET.tostring(root, encoding="unicode")
    return f'<?xml version="1.0" encoding="utf-8"?>\n{body}\n'


def write_qdc(cb: Codebook, path: str | Path) -> None:
    """Write the ``.qdc`` file atomically."""
    write_text(path, codebook_to_qdc(cb))


def read_qdc(path: str | Path) -> list[dict[str, Any]]:
    """The codes of a ``.qdc`` (or a project's codebook) from any tool, flattened in document order.

    Each dict has ``guid``, ``name``, ``description``, ``is_codable``, ``color``
    (``""`` if none), ``parent`` (the parent's guid or ``None``) and ``path``
    (names from the top, ``"/"``-joined).  Parsing refuses DTDs and entities.
    """
    try:
        root = SafeET.parse(str(path), forbid_dtd=True).getroot()
    except FileNotFoundError:
        raise CodebookError(f"{path}: file not found") from None
    except DefusedXmlException as exc:
        raise CodebookError(f"{path}: refused unsafe XML ({type(exc).__name__})") from None
    except ET.ParseError as exc:
        raise CodebookError(f"{path}: not well-formed XML ({exc})") from None
    if _local(root.tag) not in ("CodeBook", "Project"):
        raise CodebookError(f"{path}: expected a REFI-QDA CodeBook, found <{_local(root.tag)}>")
    codes = next((el for el in root.iter() if _local(el.tag) == "Codes"), None)
    if codes is None:
        raise CodebookError(f"{path}: no <Codes> element")
    found: list[dict[str, Any]] = []
    _collect(codes, parent=None, prefix="", into=found)
    return found


def _collect(element: ET.Element, parent: dict[str, Any] | None, prefix: str, into: list[dict[str, Any]]) -> None:
    """Depth-first walk over ``<Code>`` children, appending one dict per code."""
    for child in element:
        if _local(child.tag) != "Code":
            continue
        name = child.get("name", "")
        description = next((d.text or "" for d in child if _local(d.tag) == "Description"), "")
        entry = {
            "guid": child.get("guid", ""),
            "name": name,
            "description": description,
            "is_codable": child.get("isCodable", "").strip().lower() in ("true", "1"),
            "color": child.get("color", ""),
            "parent": parent["guid"] if parent else None,
            "path": f"{prefix}{name}",
        }
        into.append(entry)
        _collect(child, parent=entry, prefix=f"{prefix}{name}/", into=into)


def _local(tag: str) -> str:
    """A tag without its ``{namespace}``."""
    return tag.rsplit("}", 1)[-1]
