"""A benchmark suite: experiments declared in a TOML file (``paper.toml`` is the paper's),
each row resolved to the `TrainConfig` it trains under one protocol."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from toontag.config import TrainConfig, check_keys
from toontag.errors import RunError

SUITES = {"paper": Path(__file__).with_name("paper.toml")}
ROW_KEYS = {"name", "table", "model", "init", "protocols", "cpu", "gpu", "paper"}


@dataclass(frozen=True)
class Row:
    name: str
    table: str
    model: str
    init: str  # "imagenet" or "random"
    protocols: tuple[str, ...]
    recipe: dict  # TrainConfig changes for every protocol
    per_protocol: dict  # protocol -> TrainConfig changes for it alone
    paper: dict = field(default_factory=dict)  # the paper's figures for this row

    def config(self, protocol: Protocol) -> TrainConfig:
        changes = {"image_size": protocol.image_size, **self.recipe}
        changes |= self.per_protocol.get(protocol.name, {})
        return TrainConfig(model=self.model, pretrained=self.init == "imagenet").replace(
            **{k: tuple(v) if isinstance(v, list) else v for k, v in changes.items()}
        )


@dataclass(frozen=True)
class Protocol:
    name: str
    summary: str
    image_size: tuple[int, int]


@dataclass(frozen=True)
class Suite:
    name: str
    path: Path
    protocols: dict[str, Protocol]
    rows: tuple[Row, ...]
    comparisons: tuple[dict, ...]

    def select(self, names: list[str] | None) -> list[Row]:
        if not names:
            return list(self.rows)
        known = {r.name: r for r in self.rows}
        for name in names:
            if name not in known:
                raise RunError(f"{self.path}: no row named {name!r} (rows: {', '.join(known)})")
        return [known[n] for n in names]


def load_suite(name_or_path: str) -> Suite:
    """A suite by name ("paper") or from a TOML file of the same layout."""
    path = SUITES.get(name_or_path, Path(name_or_path))
    if not path.is_file():
        raise RunError(f"{name_or_path}: no such suite (known: {', '.join(SUITES)}, or a file)")
    try:
        spec = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as e:
        raise RunError(f"{path}: not valid TOML ({e})") from e
    protocols = {
        name: Protocol(name, " ".join(p["summary"].split()), tuple(p["image_size"]))
        for name, p in spec.get("protocol", {}).items()
    }
    rows = tuple(_row(path, r, protocols) for r in spec.get("row", []))
    names = [r.name for r in rows]
    for c in spec.get("comparison", []):
        unknown = [n for n in c["rows"] if n not in names]
        if unknown:
            raise RunError(f"{path}: comparison names unknown rows {unknown}")
    return Suite(Path(path).stem, path, protocols, rows, tuple(spec.get("comparison", [])))


def _row(path: Path, r: dict, protocols: dict[str, Protocol]) -> Row:
    name = r.get("name", "?")
    if r.get("init") not in ("imagenet", "random"):
        raise RunError(f'{path}: row {name!r} needs init = "imagenet" or "random"')
    recipe = {k: v for k, v in r.items() if k not in ROW_KEYS}
    per_protocol = {p: r[p] for p in protocols if p in r}
    for changes in (recipe, *per_protocol.values()):
        try:
            check_keys(changes)
        except RunError as e:
            raise RunError(f"{path}: row {name!r}: {e}") from e
    return Row(
        name=name,
        table=str(r.get("table", "")),
        model=r["model"],
        init=r["init"],
        protocols=tuple(r.get("protocols", protocols)),
        recipe=recipe,
        per_protocol=per_protocol,
        paper=r.get("paper", {}),
    )
