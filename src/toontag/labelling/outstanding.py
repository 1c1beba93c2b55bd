"""The batches a label server has served and not yet seen answered, one per tab.

A page asks for frames when it loads and whenever its batch is done. Drawing a new batch on
every load made a reload skip the frames on the page (the queue had moved on, and they were no
longer the most useful to ask about), so the session keeps each tab's last batch until all its
frames are answered, and a tab asking again is given that batch's unanswered frames, in the
order first served, whatever size or policy it asks for: a reload shows the same frames.

A tab is whatever token the page names itself by (the label page keeps one in its
sessionStorage, which a reload keeps and a new tab does not; a client naming none is one tab of
its own). Two tabs open at once are two batches: a new batch is drawn around the frames another
tab has on its page unanswered, so two people in two tabs are not shown the same frames (unless
those are the only frames left). A duplicated tab keeps its sessionStorage, so it is the same
tab and shows the same batch. The last `TABS` tabs are remembered: frames shown in a tab closed
long ago are drawn again in time.
"""

from __future__ import annotations

import numpy as np

TABS = 16  # tabs whose unanswered batch is kept: enough for a few people, each a few tabs


class Outstanding:
    """Each tab's last batch (pool rows, in the order served), until all are answered."""

    def __init__(self, tabs: int = TABS):
        self.tabs = tabs
        self._rows: dict[str | None, list[int]] = {}  # oldest tab first

    def waiting(self, tab: str | None, answered: np.ndarray) -> list[int]:
        """The rows of `tab`'s batch that are not `answered` (a mask of pool rows), in the
        order served; [] when it has none left, and then the batch is forgotten."""
        rows = [r for r in self._rows.get(tab, ()) if not answered[r]]
        if not rows:
            self._rows.pop(tab, None)
        return rows

    def others(self, tab: str | None, answered: np.ndarray) -> list[int]:
        """The unanswered rows on every other tab's page: not to be drawn again for `tab`."""
        return [r for t, rows in self._rows.items() if t != tab for r in rows if not answered[r]]

    def keep(self, tab: str | None, rows: list[int]) -> None:
        """`rows`, just served to `tab`, as its outstanding batch (none: nothing kept)."""
        self._rows.pop(tab, None)
        if rows:
            self._rows[tab] = list(rows)
        while len(self._rows) > self.tabs:
            del self._rows[next(iter(self._rows))]
