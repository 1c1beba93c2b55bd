"""Benchmarks: suites of experiments declared in TOML, run resumably, published beside the
paper's figures; result files stamped with their provenance; and what the scripts in
benchmarks/ share (they import it from here, never from one another)."""
