"""One colour per character, the same in every plot (matplotlib alone: no model code)."""

from __future__ import annotations


def colours(classes) -> dict[str, str]:
    """Each class's colour, by its position: matplotlib's tab10, as hex."""
    import matplotlib
    import matplotlib.pyplot as plt

    palette = plt.get_cmap("tab10").colors
    return {c: matplotlib.colors.to_hex(palette[i % 10]) for i, c in enumerate(classes)}
