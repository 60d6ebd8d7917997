"""One aggregation of a statistic across runs and seeds: mean, sample std and n, throughput from latency.

Tables (:mod:`segbench.tables`) and figures (:mod:`segbench.plots.data`) both
call :func:`aggregate`, so a model's numbers are averaged once and read the
same everywhere. Each cell contributes its own value (its median latency,
its mIoU); a group's mean is the mean of those values, its std their sample
standard deviation, and ``n`` how many there were.

Throughput is not averaged on its own: the mean of per-run throughputs is not
``1000 x batch / mean latency`` (two runs at 10 and 30 ms average 66.7 img/s,
against 50 from the mean latency). It is derived from the latency statistic
the table shows, so FPS and latency always agree.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

#: The statistics :func:`aggregate` returns, in order.
STATS = ("mean", "std", "n")
#: The latency statistic every table and figure shows (a cell's median over its timed iterations).
LATENCY = "latency_ms_median"
#: Images per second: derived from :data:`LATENCY` and the batch size, never averaged on its own.
THROUGHPUT = "throughput_img_s"


def throughput(latency_ms: float | pd.Series, batch_size: float | pd.Series) -> float | pd.Series:
    """Images per second of a batch taking ``latency_ms`` milliseconds."""
    return 1000.0 * batch_size / latency_ms


def aggregate(frame: pd.DataFrame, group: Sequence[str], values: Sequence[str]) -> dict[str, pd.DataFrame]:
    """``{"mean", "std", "n"}``: one frame each, a row per group (in order of appearance), a column per value.

    ``std`` is the sample standard deviation (NaN for one value) and ``n`` the
    number of non-missing values. Throughput's mean is
    :func:`throughput` of the mean latency, its std the latency's std carried
    over to first order (``mean_fps x std_ms / mean_ms``), its n the latency's.
    """
    group, values = list(group), list(values)
    grouped = frame.groupby(group, dropna=False, sort=False)
    stats = {"mean": grouped[values].mean(), "std": grouped[values].std(), "n": grouped[values].count()}
    if THROUGHPUT in values:
        if (grouped["batch_size"].nunique(dropna=False) > 1).any():
            raise ValueError("cells of different batch sizes cannot share one throughput; group them by batch_size")
        latency = grouped[LATENCY]
        mean_ms, std_ms = latency.mean(), latency.std()
        fps = throughput(mean_ms, grouped["batch_size"].first().astype(float))
        stats["mean"][THROUGHPUT] = fps
        stats["std"][THROUGHPUT] = fps * std_ms / mean_ms
        stats["n"][THROUGHPUT] = latency.count()
    return stats
