"""Sub-commands of ``wogcode``: one module per command, each with ``register(subparsers)``."""
