"""Exports: coded datasets as tables, REFI-QDA exchange files (``.qdc`` codebooks, ``.qdpx`` projects), reports.

Every writer here writes atomically (``pipeline.atomic``), so an interrupted
run never leaves a half-written file behind.
"""
