"""wogcode: code Indonesian MPP fieldwork against Whole-of-Government frameworks."""

__version__ = "0.1.0"
