"""Progress bars for long work (training, adding): tqdm, shown only when it is slow."""
from __future__ import annotations

import time

_SHOW_AFTER_S = 2.0  # a bar appears once the work has run this long


class Progress:
    """A tqdm bar over ``total`` steps that appears only once the work is slow.

    enabled: True always shows it, False never, None (default) after a couple
    of seconds. Call it once per finished step, optionally with a float to show
    (``postfix``), and ``close()`` at the end (use try/finally).
    """

    def __init__(self, total: int, enabled: bool | None, desc: str, unit: str,
                 postfix: str = "") -> None:
        self.total, self.enabled, self.desc, self.unit = total, enabled, desc, unit
        self.postfix, self.bar, self.done = postfix, None, 0
        self.t0 = time.perf_counter()

    def __call__(self, step: int | None = None, value: float | None = None) -> None:
        self.done = self.done + 1 if step is None else step + 1
        if self.enabled is False:
            return
        if self.bar is None and (self.enabled or time.perf_counter() - self.t0 > _SHOW_AFTER_S):
            from tqdm.auto import tqdm

            self.bar = tqdm(total=self.total, desc=self.desc, unit=self.unit, leave=False)
            self.bar.update(self.done - 1)  # steps finished before the bar appeared
        if self.bar is not None:
            self.bar.update(1)
            if value is not None and self.postfix:
                self.bar.set_postfix({self.postfix: f"{value:.4g}"})

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
