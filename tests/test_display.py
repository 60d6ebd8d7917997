"""Terminal output that fits: short labels in full, columns that fold or step aside, status always seen,
and one plain line per finished cell in a log that is not a terminal."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from segbench.cli import main
from segbench.compare import compare_runs, comparison_table
from segbench.display import cell_labels, grid_table, two_lines
from segbench.models import DECODERS
from segbench.models.decoders.base import Decoder
from segbench.results import records_to_frame
from tests.conftest import FAST_CLI
from tests.test_compare import grid, make_run, record

WIDTHS = (80, 120)


def row(encoder: str = "resnet18", decoder: str = "skip", **changes: Any) -> dict[str, Any]:
    """A finished cell's table row, scored and profiled; ``changes`` override any field."""
    values: dict[str, Any] = {
        "encoder": encoder, "decoder": decoder, "input_h": 360, "input_w": 480, "batch_size": 1,
        "precision": "fp32", "device": "cpu", "channels_last": False, "num_classes": 12, "pretrained": False,
        "dataset": "camvid", "seed": 0, "tta_scales": "1", "tta_flip": False, "crf": False, "mc_samples": 0,
        "params": 11_180_000, "gflops": 12.5, "latency_ms_median": 123.456, "latency_ms_p10": 120.0,
        "latency_ms_p90": 130.0, "throughput_img_s": 8.1, "peak_mem_mib": 250.0, "miou": 61.25,
        "status": "ok", "error": None, "cell_id": f"{encoder}__{decoder}",
    }
    return {**values, **changes}


def render(renderable: Any, width: int) -> str:
    console = Console(width=width, file=io.StringIO(), force_terminal=False)
    console.print(renderable)
    return console.file.getvalue()  # type: ignore[attr-defined]


def assert_fits(text: str, width: int, labels: list[str]) -> None:
    assert "…" not in text, text  # no header, label or value cut to an ellipsis
    assert max(len(line) for line in text.splitlines()) <= width, text
    for label in labels:
        assert re.search(rf"│ {re.escape(label)} +│", text), f"{label!r} not whole in its cell:\n{text}"


def test_labels_add_only_the_keys_that_vary():
    two = [row("resnet18"), row("resnet34")]
    assert cell_labels(two) == ["resnet18+skip", "resnet34+skip"]
    mixed = [row(precision="fp16", seed=1), row(input_h=512, input_w=1024), row("-", "enet")]
    assert cell_labels(mixed) == ["resnet18+skip 360x480 @fp16 s1", "resnet18+skip 512x1024 @fp32 s0",
                                  "enet 360x480 @fp32 s0"]
    untrained = [row(dataset=None, seed=None), row(seed=2, train_loss="focal")]
    assert cell_labels(untrained) == ["resnet18+skip", "resnet18+skip camvid s2 focal"]


def test_a_header_goes_over_two_lines_at_its_narrowest():
    assert two_lines("ms median") == "ms\nmedian"
    assert two_lines("Latency p10 (ms)") == "Latency\np10 (ms)"
    assert two_lines("GFLOPs") == "GFLOPs"


@pytest.mark.parametrize("width", WIDTHS)
def test_the_grid_table_fits_and_shows_a_failure(width: int):
    rows = [row(e, d) for e in ("resnet18", "resnet34", "mobilenet") for d in ("skip", "unet", "dilation")]
    rows[4] = row("resnet34", "unet", status="failed", error="RuntimeError: CUDA error: an illegal memory "
                  "access was encountered, in the decoder's second upsampling block", miou=None)
    rows[8] = row("mobilenet", "dilation", status="not_applicable", error="dilation needs a stride-8 encoder")
    frame = records_to_frame(rows)
    labels = cell_labels(rows)
    text = render(grid_table(frame), width)
    assert_fits(text, width, labels)
    assert re.search(r"│ resnet34\+unet +│.*│ failed +│", text) and "not_applicable │" in text
    assert "resnet34+unet: failed: RuntimeError: CUDA error" in text.replace("\n", " ")
    assert "dilation needs a stride-8 encoder" in text
    assert "mIoU" in text and "status" in text
    if width == 80:  # the spread steps aside, and the note says so; mIoU and the median stay
        assert "ms p10-p90" not in text.split("not shown")[0] and "not shown at 80 columns: ms p10-p90" in text
        assert "123.46" in text and "61.2" in text
    else:
        assert "not shown" not in text and "120.0-130.0" in text


@pytest.mark.parametrize("width", WIDTHS)
def test_the_comparison_table_keeps_labels_and_verdicts_whole(tmp_path: Path, width: int):
    baseline = make_run(tmp_path / "baseline", [*grid(), record("resnet34", "unet", seed=1)])
    current = make_run(tmp_path / "current", [*grid(peak_mem_mib=130.0),
                                              record("resnet34", "unet", seed=1, status="failed",
                                                     error="RuntimeError: boom in the decoder")])
    text = render(comparison_table(compare_runs(baseline, current)), width)
    assert_fits(text, width, ["mobilenet+skip s0", "resnet34+unet s1"])
    assert re.search(r"│ resnet34\+unet s1 .*│ +failed │ +│ regression: newly", text)
    assert re.search(r"│ mobilenet\+skip s0 │ peak_mem_mib .*│ +x1\.30 │ regression: above", text)
    squashed = re.sub(r"[│\s]", "", text)  # a folded verdict, read down its column: every word is there
    assert "regression:newlyfailing:RuntimeError:boominthedecoder" in squashed
    assert ("not shown at 80 columns: baseline" in text) == (width == 80)


class _Exploding(Decoder):
    def __init__(self, specs, num_classes):
        super().__init__(specs, num_classes)
        raise RuntimeError("boom")


def test_a_log_gets_one_plain_line_per_finished_cell(tmp_path: Path, capsys):
    with DECODERS.temporarily("exploding", _Exploding, paper="-", year=0, needs="-"):
        rc = main(["grid", "--encoders", "mobilenet", "--decoders", "skip,exploding", "--size", "32x32",
                   "--num-classes", "3", "--device", "cpu", "--profile-only", "--out", str(tmp_path / "run"),
                   *FAST_CLI])
    assert rc == 0
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert re.fullmatch(r"\[1/2\] mobilenet\+skip  ok  \d+\.\d s  latency \d+\.\d\d ms", lines[0]), lines
    assert re.fullmatch(r"\[2/2\] mobilenet\+exploding  failed  \d+\.\d s  RuntimeError: boom", lines[1]), lines
    assert "━" not in captured.err  # no progress bar drawn into the log
    assert "│ mobilenet+exploding │" in captured.out and "failed" in captured.out  # the table still follows
