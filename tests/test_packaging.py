"""What the install promises: every package toontag imports is declared, the bounds are ones
that were tested (lower: `.ci/lowest.sh`'s record; upper: no tighter than the next minor), the
lock file CI installs from satisfies them, one OpenCV (headless, no libGL), the scenedetect API
used, and toontag's own deprecation warnings fail the tests."""

from __future__ import annotations

import ast
import importlib.metadata as metadata
import sys
import tomllib
import warnings
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
REQUIREMENTS = [
    Requirement(r)
    for r in (
        *PYPROJECT["dependencies"],
        *(r for extra in PYPROJECT["optional-dependencies"].values() for r in extra),
    )
]
DECLARED = {canonicalize_name(r.name) for r in REQUIREMENTS}


def imported_top_level(root: Path) -> dict[str, Path]:
    """Each top-level module imported (absolutely) by a file under `root`, with one such file."""
    found: dict[str, Path] = {}
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module]
            else:
                continue
            for name in names:
                found.setdefault(name.split(".")[0], path)
    return found


def test_every_package_toontag_imports_is_a_declared_dependency():
    """A package that comes only through another's dependencies can vanish with that
    dependency's next release: each one toontag imports is named in pyproject.toml."""
    distributions = metadata.packages_distributions()
    imported = imported_top_level(ROOT / "src" / "toontag")
    third_party = {m: p for m, p in imported.items() if m not in sys.stdlib_module_names}
    third_party.pop("toontag")
    assert {"threadpoolctl", "pydantic", "starlette", "cv2", "huggingface_hub"} <= set(third_party)
    undeclared = {
        f"{module} ({path.relative_to(ROOT)})"
        for module, path in third_party.items()
        if not {canonicalize_name(d) for d in distributions.get(module, [module])} & DECLARED
    }
    assert not undeclared, f"imported but not declared in pyproject.toml: {sorted(undeclared)}"


def test_upper_bounds_admit_every_release_of_the_next_minor():
    """An upper bound stops at a minor release (`<2.15`), never inside one (`<=2.14.1`,
    `==4.32.5`): patch releases carry fixes. The exact versions are the lock file's job."""
    too_tight = [
        str(r)
        for r in REQUIREMENTS
        for s in r.specifier
        if s.operator in ("==", "===", "<=", "~=")
        or (s.operator == "<" and len(s.version.split(".")) > 2)
    ]
    assert not too_tight


def test_every_lower_bound_is_the_version_lowest_sh_installed_and_tested():
    """`.ci/lowest.sh` installs each direct dependency at its lowest allowed version and runs
    tests on them, recording what it installed in `.ci/lowest.txt`: each declared lower bound
    is exactly the version it tested (raised where the resolution had to go higher)."""
    tested = {}
    for line in (ROOT / ".ci" / "lowest.txt").read_text().splitlines():
        if "==" in line and not line.startswith("#"):
            name, version = line.split("==")
            tested[canonicalize_name(name)] = version.strip()
    wrong = []
    for r in REQUIREMENTS:
        lower = [s.version for s in r.specifier if s.operator == ">="]
        assert lower, f"{r}: no lower bound"
        version = tested.get(canonicalize_name(r.name))
        # A bound written with fewer parts (>=2.4) names the release .0 of it (2.4.0)
        if version is None or version.split(".")[: len(lower[0].split("."))] != lower[0].split("."):
            wrong.append(f"{r} (tested: {version})")
    assert not wrong, f"lower bounds that .ci/lowest.sh did not test: {wrong}"


def test_the_lock_file_satisfies_every_declared_bound():
    """CI installs .ci/requirements.lock: each declared dependency is locked at a version its
    bounds allow (a bound changed without relocking fails here, not in CI's install)."""
    locked = {}
    for line in (ROOT / ".ci" / "requirements.lock").read_text().splitlines():
        if line and not line.startswith("#"):
            name, version = line.split("#")[0].strip().split("==")
            locked[canonicalize_name(name)] = version
    outside = [
        f"{r} (locked: {locked.get(canonicalize_name(r.name))})"
        for r in REQUIREMENTS
        if not r.specifier.contains(locked.get(canonicalize_name(r.name), "0.dev0"))
    ]
    assert not outside


def test_exactly_one_opencv_is_installed_and_it_is_headless():
    opencv = sorted(
        d.metadata["Name"].lower()
        for d in metadata.distributions()
        if d.metadata["Name"] and d.metadata["Name"].lower().startswith("opencv")
    )
    assert opencv == ["opencv-python-headless"]
    import cv2

    assert cv2.imdecode is not None


def test_the_declared_scenedetect_has_the_api_used():
    assert any(r.name == "scenedetect-headless" and "0.7" in r.specifier for r in REQUIREMENTS)
    from scenedetect.common import Timecode  # 0.7's, used by toontag.video.shots

    assert Timecode is not None


def test_toontags_own_deprecation_warnings_fail_the_tests_and_others_do_not():
    """pyproject's filterwarnings: a DeprecationWarning raised from a toontag module (its own, or
    a library's deprecated call made by toontag) is an error; one inside a library is not."""
    with pytest.raises(DeprecationWarning, match="old"):
        warnings.warn_explicit("old", DeprecationWarning, "x.py", 1, module="toontag.models.onnx")
    with warnings.catch_warnings(record=True):
        for module in ("numpy.core", "lightning.pytorch", "toontagger", "tests.test_x"):
            warnings.warn_explicit("old", DeprecationWarning, "x.py", 1, module=module)
