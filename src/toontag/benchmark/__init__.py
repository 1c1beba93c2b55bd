"""Benchmarks: suites of experiments declared in TOML, run resumably, published beside the
paper's figures."""
