"""The `promptsynth` subcommands, one module per area; cli.py parses arguments and calls them."""
