"""The `ari-recorder` subcommands that have a module of their own (cli.py registers them)."""
