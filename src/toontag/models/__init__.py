"""Models: the paper's baseline CNN and every timm backbone, behind one `create_model`.

The names below load `toontag.models.registry` (PyTorch, timm) when first used, so that
`toontag.models.runtime` (ONNX Runtime alone) imports without PyTorch."""

from __future__ import annotations

__all__ = [
    "PAPER_BACKBONES",
    "create_model",
    "list_models",
    "pretrained_unavailable",
    "resolve_model",
]


def __getattr__(name: str):
    if name in __all__:
        from toontag.models import registry

        return getattr(registry, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
