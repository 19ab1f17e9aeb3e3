"""Measuring helpers shared by the benchmarks: peak memory across a process tree, CPU seconds."""

from __future__ import annotations

import contextlib
import resource
import threading

import psutil


class PeakMemory:
    """Samples the resident memory of this process plus its children until stopped.

    A sampler (not ru_maxrss) because the children's peaks happen at different
    moments; summing their individual maxima would overstate the real peak.
    """

    def __init__(self, interval_s: float = 0.05) -> None:
        self.interval_s = interval_s
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        me = psutil.Process()
        while not self._stop.is_set():
            total = 0
            for proc in [me, *me.children(recursive=True)]:
                with contextlib.suppress(psutil.Error):  # a worker that just exited
                    total += proc.memory_info().rss
            self.peak = max(self.peak, total)
            self._stop.wait(self.interval_s)


def cpu_seconds() -> float:
    """User+system CPU of this process and its reaped children (less sensitive to other load)."""
    own, children = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime
