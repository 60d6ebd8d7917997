"""Paper tables from synthetic runs with known numbers: exact strings, bold, LaTeX, parsable HTML/CSV."""

from __future__ import annotations

import io
import math
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from segbench.results import write_json_atomic
from segbench.rundir import write_record, write_table
from segbench.tables import latex_escape, long_table, pivot_table, render, render_long

ENV = {"torch": "2.5.0", "cpu": "AMD EPYC", "cpu_capability": "AVX2", "gpu": None}


def record(encoder: str, decoder: str, seed: int, **values: Any) -> dict[str, Any]:
    return {
        "encoder": encoder, "decoder": decoder, "input_h": 360, "input_w": 480, "batch_size": 1,
        "precision": "fp32", "device": "cpu", "channels_last": False, "num_classes": 11,
        "dataset": "camvid", "seed": seed, "eval_split": "test", "threads": 2,
        "mem_method": "rss_hwm_above_baseline", "status": "ok", "error": None,
        "cell_id": f"{encoder}__{decoder}__{values.get('input_h', 360)}__s{seed}",
        **values,
    }


# (encoder, decoder) -> params, gflops, throughput per seed, miou per seed
KNOWN = {
    ("mobilenet_v2", "skip"): (2_000_000, 1.5, (100.0, 110.0), (70.0, 72.0)),
    ("mobilenet_v2", "unet"): (3_000_000, 2.0, (80.0, 80.0), (74.0, 75.0)),
    ("resnet18", "skip"): (11_000_000, 9.0, (50.0, 52.0), (73.0, 74.0)),
    ("resnet18", "unet"): (12_000_000, 9.5, (40.0, 44.0), (71.0, 71.5)),
}


def make_run(path: Path, seed: int, cells: dict = KNOWN, **extra: Any) -> Path:
    write_json_atomic(path / "run.json", {"environment": ENV})
    for (encoder, decoder), (params, gflops, fps, miou) in cells.items():
        write_record(path, record(encoder, decoder, seed, params=params, gflops=gflops, gmacs=gflops / 2,
                                  throughput_img_s=fps[seed], latency_ms_median=1000 / fps[seed],
                                  miou=miou[seed], **extra))
    write_table(path)
    return path


@pytest.fixture
def runs(tmp_path: Path) -> list[Path]:
    return [make_run(tmp_path / "seed0", 0), make_run(tmp_path / "seed1", 1)]


def body_rows(markdown: str) -> dict[str, list[str]]:
    """Markdown table rows by their first cell."""
    rows = [line.strip("|").split(" | ") for line in markdown.splitlines() if line.startswith("| ")]
    return {row[0].strip(): [c.strip() for c in row[1:]] for row in rows[1:]}


def test_pivot_holds_mean_std_and_n(runs: list[Path]):
    table = pivot_table(runs, "miou")
    assert list(table.index) == ["mobilenet_v2", "resnet18"]
    assert list(table["mean"].columns) == ["skip", "unet"]
    assert table.loc["mobilenet_v2", ("mean", "skip")] == 71.0
    assert table.loc["mobilenet_v2", ("std", "skip")] == pytest.approx(math.sqrt(2))
    assert table["n"].to_numpy().tolist() == [[2, 2], [2, 2]]


def test_mean_and_std_strings_with_the_best_in_bold(runs: list[Path]):
    text = render(pivot_table(runs, "miou"), "miou", "markdown")
    assert body_rows(text) == {
        "mobilenet_v2": ["71.0 ± 1.4", "**74.5 ± 0.7**"],  # higher mIoU is better, per column
        "resnet18": ["**73.5 ± 0.7**", "71.2 ± 0.4"],
    }
    assert "**mIoU (%)**" in text and "mean ± std over 2 runs (seeds 0, 1)" in text


def test_a_cost_metric_bolds_the_lowest(runs: list[Path]):
    rows = body_rows(render(pivot_table(runs, "params"), "params", "markdown"))
    # The runs agree exactly on params: no "± 0.00".
    assert rows == {"mobilenet_v2": ["**2.00**", "**3.00**"], "resnet18": ["11.00", "12.00"]}
    rows = body_rows(render(pivot_table(runs, "latency_ms_median", rows="decoder", cols="encoder"),
                            "latency_ms_median", "markdown"))
    assert rows == {"skip": ["**9.55 ± 0.64**", "**19.62 ± 0.54**"], "unet": ["12.50", "23.86 ± 1.61"]}


def test_one_run_gives_plain_means_and_a_missing_pair_a_dash(tmp_path: Path):
    cells = {k: v for k, v in KNOWN.items() if k != ("resnet18", "unet")}
    table = pivot_table([make_run(tmp_path / "run", 0, cells)], "miou")
    text = render(table, "miou", "markdown")
    # A column with a single value has no best to point at.
    assert body_rows(text) == {"mobilenet_v2": ["70.0", "74.0"], "resnet18": ["**73.0**", "-"]}
    assert "one run" in text


def test_latex_is_booktabs_with_a_caption_of_conventions(runs: list[Path]):
    text = render(pivot_table(runs, "gflops"), "gflops", "latex", {"label": "tab:gflops"})
    for command in [r"\begin{table}", r"\toprule", r"\midrule", r"\bottomrule", r"\label{tab:gflops}",
                    r"\multicolumn{2}{c}{GFLOPs}", r"\begin{tabular}{@{}lrr@{}}"]:
        assert command in text
    assert "|" not in text  # no vertical rules
    caption = text.split(r"\caption{", 1)[1].split("}\n", 1)[0]
    assert "GFLOPs = 2 x multiply-adds (fvcore" in caption
    assert "Profiled at input 360x480, batch size 1, fp32 precision, on AMD EPYC, AVX2 (CPU)" in caption
    assert r"mobilenet\_v2 & \textbf{1.50} & \textbf{2.00} \\" in text
    assert "resnet18 & 9.00 & 9.50 \\\\" in text


def test_latex_accuracy_caption_and_escapes(runs: list[Path]):
    text = render(pivot_table(runs, "miou"), "miou", "latex", {"dataset": ["camvid_11"]})
    assert r"mobilenet\_v2 & 71.0 $\pm$ 1.4 & \textbf{74.5 $\pm$ 0.7} \\" in text
    assert r"Accuracy scored on camvid\_11, test split" in text
    assert r"mean $\pm$ std over 2 runs" in text
    assert latex_escape("a_b & 50% #1 {x} $y$ ~^\\") == (
        r"a\_b \& 50\% \#1 \{x\} \$y\$ \textasciitilde{}\textasciicircum{}\textbackslash{}")


class _Cells(HTMLParser):
    """Collects the text of every <th>/<td>, and which were bold."""

    def __init__(self) -> None:
        super().__init__()
        self.cells: list[str] = []
        self.bold: list[str] = []
        self._in_cell = False

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag in ("th", "td"):
            self.cells.append("")
            self._in_cell = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "b":
            self.bold.append(self.cells[-1])
        if tag in ("th", "td"):
            self._in_cell = False

    def handle_data(self, data: str) -> None:
        if self._in_cell:
            self.cells[-1] += data


def test_html_parses(runs: list[Path]):
    parser = _Cells()
    parser.feed(render(pivot_table(runs, "miou"), "miou", "html"))
    assert parser.cells == ["", "mIoU (%)", "encoder", "skip", "unet",
                            "mobilenet_v2", "71.0 ± 1.4", "74.5 ± 0.7",
                            "resnet18", "73.5 ± 0.7", "71.2 ± 0.4"]
    assert parser.bold == ["74.5 ± 0.7", "73.5 ± 0.7"]


def test_csv_is_tidy_with_plain_numbers(runs: list[Path]):
    frame = pd.read_csv(io.StringIO(render(pivot_table(runs, "miou"), "miou", "csv")))
    assert list(frame.columns) == ["encoder", "decoder", "miou_mean", "miou_std", "miou_n"]
    assert len(frame) == 4
    first = frame.iloc[0]
    assert (first["encoder"], first["decoder"], first["miou_mean"], first["miou_n"]) == (
        "mobilenet_v2", "skip", 71.0, 2)
    assert first["miou_std"] == pytest.approx(math.sqrt(2))


def test_long_table_one_row_per_model(runs: list[Path]):
    table = long_table(runs, ["params", "gflops", "throughput_img_s", "miou"])
    assert list(table.index) == [
        "mobilenet_v2 + skip", "mobilenet_v2 + unet", "resnet18 + skip", "resnet18 + unet"]
    text = render_long(table, "markdown")
    assert "| Model | Params (M) | GFLOPs | FPS | mIoU (%) |" in text
    # FPS from the mean latency (10 and 9.09 ms): 104.8, not the mean of 100 and 110 img/s.
    assert body_rows(text)["mobilenet_v2 + skip"] == [
        "**2.00**", "**1.50**", "**104.8 ± 7.1**", "71.0 ± 1.4"]
    assert body_rows(text)["mobilenet_v2 + unet"] == ["3.00", "2.00", "80.0", "**74.5 ± 0.7**"]
    latex = render_long(table, "latex")
    assert r"mobilenet\_v2 + skip & \textbf{2.00}" in latex and r"\bottomrule" in latex
    frame = pd.read_csv(io.StringIO(render_long(table, "csv")))
    assert list(frame.columns[:4]) == ["model", "params_mean", "params_std", "params_n"]
    mean_latency = [np.mean([1000 / f for f in fps]) for _, _, fps, _ in KNOWN.values()]  # as the records hold
    assert frame["throughput_img_s_mean"].tolist() == pytest.approx([1000 / ms for ms in mean_latency])


def test_settings_are_not_averaged_together(tmp_path: Path, runs: list[Path]):
    other = make_run(tmp_path / "bigger", 0, input_h=720, input_w=960)
    with pytest.raises(ValueError, match=r"input_h: 360, 720.*filters"):
        pivot_table([*runs, other], "miou")
    table = pivot_table([*runs, other], "miou", filters={"input_h": 720})
    assert table["n"].to_numpy().tolist() == [[1, 1], [1, 1]]
    assert pivot_table([*runs, other], "miou", filters={"input_h": [360]}).equals(pivot_table(runs, "miou"))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"value": "mIoU"}, "unknown value column 'mIoU'; valid: params, gmacs"),
        ({"value": "miou", "rows": "model"}, "unknown rows column 'model'; valid: encoder, decoder"),
        ({"value": "miou", "cols": "encoder"}, "rows and cols are both 'encoder'"),
        ({"value": "miou", "filters": {"size": 1}}, "unknown filter column 'size'"),
        ({"value": "miou", "filters": {"encoder": "vgg16"}}, "no cells match"),
    ],
)
def test_bad_columns_are_named(runs: list[Path], kwargs: dict, message: str):
    with pytest.raises(ValueError, match=message):
        pivot_table(runs, **kwargs)


def test_missing_run_and_bad_format_are_named(tmp_path: Path, runs: list[Path]):
    with pytest.raises(FileNotFoundError, match=r"no run at .*nowhere"):
        pivot_table([*runs, tmp_path / "nowhere"], "miou")
    with pytest.raises(ValueError, match="unknown value column 'fps'"):
        long_table(runs, ["fps"])
    with pytest.raises(ValueError, match="unknown format 'tex'; valid: markdown, latex, csv, html"):
        render(pivot_table(runs, "miou"), "miou", "tex")  # type: ignore[arg-type]


# --------------------------------------------------------------------------- n per mean, sizes, throughput


def uneven_runs(tmp_path: Path) -> list[Path]:
    """Two seeds of every model but resnet18 + unet, which ran once (seed 0) and has the best mIoU."""
    cells = {**KNOWN, ("resnet18", "unet"): (12_000_000, 9.5, (40.0, 44.0), (80.0, 0.0))}
    once = {k: v for k, v in cells.items() if k != ("resnet18", "unet")}
    return [make_run(tmp_path / "seed0", 0, cells), make_run(tmp_path / "seed1", 1, once)]


def test_a_cell_of_another_n_says_it_and_a_single_run_is_not_ranked(tmp_path: Path):
    table = long_table(uneven_runs(tmp_path), ["params", "throughput_img_s", "miou"])
    text = render_long(table, "markdown")
    rows = body_rows(text)
    # params agree exactly across runs: n changes nothing there; mIoU and FPS of one run say so.
    assert rows["resnet18 + unet"] == ["12.00", "40.0 (n=1)", "80.0 (n=1)"]
    # The single run's 80.0 is not bold against two-run means: the best of those is.
    assert rows["mobilenet_v2 + unet"][2] == "**74.5 ± 0.7**"
    assert rows["mobilenet_v2 + skip"][0] == "**2.00**"  # exact columns rank every row
    assert "mean ± std over 2 runs (seeds 0, 1), or over the n a cell states" in text
    assert "Best per column in bold among means of several runs (single runs are not ranked)" in text
    assert "(n=1)" in render_long(table, "latex") and "(n=1)" in render_long(table, "html")


def test_uniform_n_is_stated_once_in_the_caption(tmp_path: Path, runs: list[Path]):
    text = render_long(long_table(runs, ["miou"]), "markdown")
    assert "(n=" not in text and "mean ± std over 2 runs (seeds 0, 1)." in text and "not ranked" not in text
    one = render_long(long_table(runs[:1], ["miou"]), "markdown")
    assert "(n=" not in one and "; one run." in one and "mean ± std" not in one


def test_the_caption_never_claims_more_runs_than_most_cells_have(tmp_path: Path):
    """Most cells one run, one cell three: "one run, or ... the n a cell states", not "over 3 runs"."""
    cells = {("resnet18", "skip"): KNOWN[("resnet18", "skip")]}
    runs = [make_run(tmp_path / "a", 0), make_run(tmp_path / "b", 1, cells), make_run(tmp_path / "c", 0, cells)]
    text = render(pivot_table(runs, "miou"), "miou", "markdown")
    assert "one run, or the mean ± std over the n a cell states" in text and "over 3 runs" not in text
    assert body_rows(text)["resnet18"][0].endswith("(n=3)")


def test_the_caption_gives_each_size_its_own_measurement(tmp_path: Path):
    """Accuracy is scored at the evaluation images' size, costs at the profiled size: two sizes, each named."""
    run = make_run(tmp_path / "run", 0, input_h=96, input_w=96, eval_h=64, eval_w=64)
    text = render_long(long_table([run], ["gflops", "miou"]), "markdown")
    assert "Costs profiled at input 96x96" in text and "Accuracy scored on camvid, test split, at 64x64" in text
    accuracy_only = render(pivot_table([run], "miou"), "miou", "markdown")
    assert "96x96" not in accuracy_only and "at 64x64" in accuracy_only
    costs_only = render(pivot_table([run], "gflops"), "gflops", "markdown")
    assert "64x64" not in costs_only and "Profiled at input 96x96" in costs_only


def test_throughput_is_derived_from_the_latency_the_table_shows(tmp_path: Path):
    """FPS = 1000 x batch / mean latency, at batch 2 too; never the mean of per-run throughputs."""
    runs = []
    for seed, latency in enumerate((10.0, 30.0)):
        path = tmp_path / f"s{seed}"
        write_json_atomic(path / "run.json", {"environment": ENV})
        write_record(path, record("resnet18", "skip", seed, batch_size=2, params=1, latency_ms_median=latency,
                                  throughput_img_s=2000 / latency, miou=50.0))
        write_table(path)
        runs.append(path)
    table = long_table(runs, ["latency_ms_median", "throughput_img_s"])
    assert table.loc["resnet18 + skip", ("mean", "latency_ms_median")] == 20.0
    assert table.loc["resnet18 + skip", ("mean", "throughput_img_s")] == pytest.approx(100.0)  # not 133.3
    assert table.loc["resnet18 + skip", ("n", "throughput_img_s")] == 2
    assert body_rows(render_long(table, "markdown"))["resnet18 + skip"][1].startswith("100.0 ± 70.7")


def test_one_aggregation_refuses_to_mix_batch_sizes():
    from segbench.aggregate import aggregate

    frame = pd.DataFrame({"m": ["a", "a"], "batch_size": [1, 2], "latency_ms_median": [10.0, 20.0],
                          "throughput_img_s": [100.0, 100.0]})
    with pytest.raises(ValueError, match="different batch sizes"):
        aggregate(frame, ["m"], ["throughput_img_s"])
    stats = aggregate(frame.assign(batch_size=1), ["m"], ["latency_ms_median", "throughput_img_s"])
    assert stats["mean"].loc["a"].tolist() == [15.0, pytest.approx(1000 / 15)]
    assert stats["n"].loc["a"].tolist() == [2, 2]
