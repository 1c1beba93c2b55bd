"""Models: the paper's baseline CNN and every timm backbone, behind one `create_model`."""

from toontag.models.registry import (
    PAPER_BACKBONES,
    create_model,
    list_models,
    pretrained_unavailable,
    resolve_model,
)

__all__ = [
    "PAPER_BACKBONES",
    "create_model",
    "list_models",
    "pretrained_unavailable",
    "resolve_model",
]
