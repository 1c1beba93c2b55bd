#!/usr/bin/env bash
# The lower bounds in pyproject.toml, tested: install every direct dependency (with the dev
# extra) at the lowest version it allows, the others at their newest that fit, then run a fast
# subset of the tests that touches every declared package. A failure here means a lower bound
# is a promise the code does not keep: raise it.
#
#     .ci/lowest.sh [VENV]      (default /tmp/toontag-lowest; made anew each time)
#
# Heavy: it downloads PyTorch's oldest allowed release with its CUDA wheels (several GB), so it
# is run by hand when a bound changes, not by .ci/run. It needs only the package registry.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${1:-/tmp/toontag-lowest}
UV_VERSION=$(cat .ci/uv-version)
rm -rf "$venv"
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet "uv==$UV_VERSION"
"$venv/bin/uv" pip install --python "$venv/bin/python" --resolution lowest-direct -e ".[dev]"
# What it installed, kept in the repository: tests/test_packaging.py checks that every lower
# bound in pyproject.toml is the version recorded here.
{
  echo "# .ci/lowest.sh: uv $UV_VERSION pip install --resolution lowest-direct -e .[dev]"
  echo "# on Python $("$venv/bin/python" -c 'import platform; print(platform.python_version())')"
  "$venv/bin/uv" pip freeze --python "$venv/bin/python" --exclude-editable
} >.ci/lowest.txt
"$venv/bin/python" -m pytest -q -p no:cacheprovider \
  tests/test_packaging.py \
  tests/models/test_onnx.py \
  tests/training/test_recipe.py \
  tests/evaluation/test_suspects.py \
  tests/explain/test_explain.py \
  tests/video/test_editorial.py tests/video/test_segments.py tests/video/test_decode.py \
  tests/serve/test_files.py tests/serve/test_access.py \
  tests/labelling/test_head.py \
  tests/training/test_adapt.py
