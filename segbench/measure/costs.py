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
class RuntimeBuild:
    """How the timed callable was made from the eager model (see :mod:`segbench.runtimes`), and how close it is.

    Each runtime fills the fields that apply to it; the others stay None (NaN in a table). An eager
    cell has only ``runtime_backend``.
    """

    #: What ran the timed forward: ``eager``, ``inductor``, ``cuda graph``, ``CPUExecutionProvider``, ...
    runtime_backend: str | None = None
    runtime_build_s: float | None = field(default=None, metadata=column(
        "Runtime build", "s", decimals=1, better=LOWER,
        doc="seconds from the eager model to the callable that is timed (compiling, exporting, capturing)"))
    compile_s: float | None = field(default=None, metadata=column(
        "Compile time", "s", decimals=1, better=LOWER,
        doc="`compile`: seconds of torch.compile's first call (tracing and compiling), apart from warm-up"))
    export_s: float | None = field(default=None, metadata=column(
        "Export time", "s", decimals=1, better=LOWER,
        doc="`onnxruntime`: seconds torch.onnx.export took (the session's creation is in `runtime_build_s`)"))
    graph_breaks: int | None = field(default=None, metadata=column(
        "Graph breaks", decimals=0, better=LOWER, doc="`compile`: graph breaks TorchDynamo met in the first call"))
    recompiles: int | None = field(default=None, metadata=column(
        "Recompiles", decimals=0, better=LOWER,
        doc="`compile`: graphs compiled after the first call (0 when warm-up and timing reused the first)"))
    #: The ONNX opset of the exported model (``onnxruntime``).
    onnx_opset: int | None = None
    runtime_max_abs_diff: float | None = field(default=None, metadata=column(
        "Max logit diff", decimals=5, better=LOWER,
        doc="largest absolute difference between this runtime's logits and eager's, on the same random input"))
    runtime_argmax_agree: float | None = field(default=None, metadata=column(
        "Argmax agreement", "%", scale=100, decimals=2, better="higher",
        doc="share of pixels (0-1) whose argmax class is eager's; shown as a percentage"))

    def to_dict(self) -> dict[str, Any]:
        """The fields that are set (a record's missing measurements read as NaN)."""
        return {name: value for name, value in asdict(self).items() if value is not None}


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
        doc="milliseconds per batch: the median of the round medians (each round a block of timed iterations, "
            "interleaved across the grid's cells; see `--rounds`)"))
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
        doc="interquartile range / median of the timed iterations (every round); above 0.1 the timing was noisy"))
    latency_round_iqr_rel: float = field(metadata=column(
        "Latency IQR / median across rounds", decimals=3, better=LOWER,
        doc="interquartile range / median of the round medians (empty for one round): the spread the gate's "
            "`noisy_iqr` reads"))
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
    #: The median of each latency round, in the order they ran (the comparison's samples).
    latency_round_ms: list[float] = field(repr=False)
    latency_rounds: int
    #: The runtime's build and agreement figures (flat in the record).
    runtime_build: RuntimeBuild = field(default_factory=RuntimeBuild)
    #: Each operation's FLOPs and bytes at batch 1 (:class:`segbench.measure.workload.Workload`'s record form):
    #: with the run's ceilings, it gives the :class:`Roofline` columns.
    workload: dict[str, Any] = field(default_factory=dict, repr=False)

    def to_dict(self) -> dict[str, Any]:
        values = asdict(self)
        del values["runtime_build"]
        return {**values, **self.runtime_build.to_dict()}


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
