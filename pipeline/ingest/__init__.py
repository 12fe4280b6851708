"""Ingestion: turn corpus files (txt, md, docx, pdf) into decoded, normalised text and Documents."""
