"""A model's costs as one record: every measured field says, in its metadata, how it reads.

Kept free of torch so that tables, plots and the comparison can describe the
columns without loading it (the measuring itself is :mod:`segbench.measure.profile`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from segbench.columns import Better, column

LOWER: Better = "lower"


@dataclass(frozen=True)
class Profile:
    """One model's costs. Units are in the names; latency is per batch, in ms; FLOPs per image."""

    params: int = field(metadata=column(
        "Params", "M", short="params M", scale=1e-6, better=LOWER, doc="exact parameter count"))
    gmacs: float = field(metadata=column(
        "GMACs", better=LOWER, doc="multiply-accumulates per image (batch 1), in 10^9, from fvcore"))
    #: The encoder's and the decoder's share of ``gmacs`` (fvcore's by_module); NaN for a whole network.
    #: What is left (``gmacs - gmacs_encoder - gmacs_decoder``) is the model's own final resize.
    gmacs_encoder: float = field(metadata=column(
        "Encoder GMACs", better=LOWER,
        doc="the encoder's share of `gmacs` (fvcore's `by_module`); empty for a whole network"))
    gmacs_decoder: float = field(metadata=column(
        "Decoder GMACs", better=LOWER,
        doc="the decoder's share of `gmacs`; what is left of `gmacs` is the model's final resize"))
    gflops: float = field(metadata=column(
        "GFLOPs", better=LOWER, doc="`2 x gmacs`, the convention of RTSeg and most papers"))
    flops_counter: str
    flops_uncounted: dict[str, int]
    latency_ms_median: float = field(metadata=column(
        "Latency median", "ms", short="ms median", better=LOWER,
        doc="milliseconds per batch, median of the timed iterations"))
    latency_ms_p10: float = field(metadata=column(
        "Latency p10", "ms", better=LOWER, doc="10th percentile of the timed iterations, ms per batch"))
    latency_ms_p90: float = field(metadata=column(
        "Latency p90", "ms", better=LOWER, doc="90th percentile, ms per batch"))
    latency_ms_mean: float = field(metadata=column(
        "Latency mean", "ms", better=LOWER, doc="mean of the timed iterations, ms per batch"))
    latency_ms_std: float = field(metadata=column(
        "Latency std", "ms", better=LOWER, doc="standard deviation of the timed iterations, ms"))
    latency_iqr_rel: float = field(metadata=column(
        "Latency IQR / median", decimals=3, better=LOWER,
        doc="interquartile range / median; above 0.1 the timing was noisy"))
    throughput_img_s: float = field(metadata=column(
        "Throughput", "img/s", short="img/s", decimals=1, better="higher",
        doc="`batch_size x 1000 / latency_ms_median`"))
    peak_mem_mib: float = field(metadata=column(
        "Memory", "MiB", short="mem MiB", decimals=1, better=LOWER,
        doc="peak memory, MiB (`mem_method` says how it was measured)"))
    mem_method: str
    device: str
    precision: str
    channels_last: bool
    batch_size: int
    input_h: int
    input_w: int
    threads: int
    warmup_iters: int
    timed_iters: int
    time_flops_s: float
    time_warmup_s: float
    time_timed_s: float
    latency_samples_ms: list[float] = field(repr=False)
    #: Each operation's FLOPs and bytes at batch 1 (:class:`segbench.measure.workload.Workload`'s record form):
    #: with the run's ceilings, it gives the :class:`Roofline` columns.
    workload: dict[str, Any] = field(default_factory=dict, repr=False)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


HIGHER: Better = "higher"


@dataclass(frozen=True)
class Roofline:
    """How far a cell is from what this machine allows: its work against the run's measured ceilings.

    Made by :func:`segbench.measure.roofline.roofline` from the cell's ``workload`` and the
    ceilings the run probed (:mod:`segbench.measure.ceilings`); README.md gives the formulas.
    """

    achieved_gflop_s: float = field(metadata=column(
        "Achieved", "GFLOP/s", decimals=1, better=HIGHER,
        doc="`gflops x batch_size / latency_ms_median`: FLOPs per second the cell reached"))
    arith_intensity: float = field(metadata=column(
        "Arithmetic intensity", "FLOP/B", decimals=1,
        doc="FLOPs per byte moved, each op's inputs, weights and outputs once (the roofline figure's x)"))
    roofline_floor_ms: float = field(metadata=column(
        "Per-op floor", "ms", decimals=3, better=LOWER,
        doc="sum over ops of max(FLOPs / peak, bytes / bandwidth), ms per batch: a perfectly fused-per-op time"))
    roofline_model_ms: float = field(metadata=column(
        "Whole-model bound", "ms", decimals=3, better=LOWER,
        doc="max(all FLOPs / peak, (weights + input + output) / bandwidth), ms per batch: a fully fused time"))
    roofline_fraction: float = field(metadata=column(
        "Roofline fraction", decimals=3, better=HIGHER,
        doc="`roofline_floor_ms / latency_ms_median`, 0-1: the share of the per-op limit reached"))
    #: ``compute`` or ``memory``: the bound that holds for most of the per-op floor's time.
    roofline_bound: str
    peak_gflop_s: float = field(metadata=column(
        "Peak (probe)", "GFLOP/s", decimals=0,
        doc="the run's measured matrix-multiply ceiling on the cell's device, at its precision"))
    bandwidth_gb_s: float = field(metadata=column(
        "Bandwidth (probe)", "GB/s", decimals=1,
        doc="the run's measured copy bandwidth on the cell's device (bytes read + written per second)"))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
