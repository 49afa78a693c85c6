"""Sources turn what the user names (paths, stdin, later git) into `Blob`s with provenance."""
