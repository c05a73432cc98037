"""Speed and memory measurements (run from the repository root as `python -m bench.<script>`); never assertions."""
