"""Subcommands of ``python -m ognet`` (one module each; see ``ognet.cli``)."""
