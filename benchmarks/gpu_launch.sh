#!/usr/bin/env bash
# Run on the machine with the git checkout, just before the tree is copied to a GPU machine:
# records the commit and whether the tree is clean in gpu-launch.json (untracked, so it travels
# with the copy). On the GPU machine, TOONTAG_LAUNCH=gpu-launch.json makes every result file
# carry that commit (toontag.benchmark.provenance.git_commit); nothing is typed by hand.
set -euo pipefail
cd "$(dirname "$0")/.."
commit=$(git rev-parse HEAD)
if [ -z "$(git status --porcelain --untracked-files=no -- src benchmarks pyproject.toml)" ]; then clean=true; else clean=false; fi
printf '{"commit": "%s", "clean": %s, "launched": "%s", "by": "benchmarks/gpu_launch.sh"}\n' \
  "$commit" "$clean" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" > gpu-launch.json
cat gpu-launch.json
