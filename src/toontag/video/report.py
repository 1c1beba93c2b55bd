"""A library report: each character's screen time in every indexed video, as a CSV table and
a PNG chart (stacked bars per video, the longest videos first when there are many)."""

from __future__ import annotations

import io
from pathlib import Path

from toontag.io import export_csv_text, write_bytes, write_text
from toontag.video.db import Index
from toontag.video.search import display_name

CHART_VIDEOS = 40  # bars in the chart; the CSV has every video
TABLE = "screen-time.csv"
CHART = "screen-time.png"


def screen_time_rows(index: Index) -> tuple[list[str], list[list]]:
    """The table: per video its id, path, duration, and per character the seconds on screen
    and their share of the video (%)."""
    classes = index.classes
    header = ["video_id", "path", "duration", *classes, *(f"{c}_percent" for c in classes)]
    rows = []
    for video in index.videos():
        seconds = index.screen_time(video["id"])
        duration = video["duration"] or 0.0
        shares = [100 * seconds[c] / duration if duration else 0.0 for c in classes]
        rows.append(
            [
                video["id"],
                video["path"],
                f"{duration:.3f}",
                *(f"{seconds[c]:.3f}" for c in classes),
                *(f"{share:.2f}" for share in shares),
            ]
        )
    return header, rows


def write_library_report(index: Index, out: Path) -> tuple[Path, Path]:
    """`out`/screen-time.csv and `out`/screen-time.png (written whole, never half)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from toontag.palette import colours

    header, rows = screen_time_rows(index)
    out = Path(out)
    write_text(out / TABLE, export_csv_text(header, rows))
    classes = index.classes
    shown = sorted(rows, key=lambda r: -float(r[2]))[:CHART_VIDEOS]
    fig, ax = plt.subplots(figsize=(9, 1.5 + 0.3 * max(1, len(shown))))
    left = [0.0] * len(shown)
    names = [Path(r[1]).name for r in shown]
    palette = colours(classes)
    for k, c in enumerate(classes):
        minutes = [float(r[3 + k]) / 60 for r in shown]
        ax.barh(names, minutes, left=left, color=palette[c], label=display_name(c))
        left = [a + b for a, b in zip(left, minutes, strict=True)]
    ax.invert_yaxis()
    ax.set_xlabel("screen time (minutes; characters together on screen each count)")
    total = {c: sum(float(r[3 + k]) for r in rows) / 60 for k, c in enumerate(classes)}
    title = ", ".join(f"{display_name(c)} {m:.1f} min" for c, m in total.items())
    more = f" ({len(shown)} longest of {len(rows)} videos shown)" if len(rows) > len(shown) else ""
    videos = f"{len(rows)} video" + ("s" if len(rows) != 1 else "")
    ax.set_title(f"Screen time in {videos}: {title}{more}", fontsize=9)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    write_bytes(out / CHART, buf.getvalue())
    return out / TABLE, out / CHART
