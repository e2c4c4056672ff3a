"""Jobs: the work behind each command, callable without the CLI."""
