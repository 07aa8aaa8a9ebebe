"""One module per `vllm-compat` subcommand: HELP, add_arguments(parser), run(args) -> exit code."""
