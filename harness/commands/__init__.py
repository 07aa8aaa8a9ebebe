"""The `vllm-compat` face: one module per subcommand, each with HELP, add_arguments(parser) and run(args) -> exit
code. harness.cli maps subcommand names to these modules and imports only the one that runs."""

from __future__ import annotations

__all__: list[str] = []  # nothing is imported from here: harness.cli loads each command module by name
