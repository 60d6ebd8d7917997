"""compare, table and plot through the CLI: exit codes, formats, one-line errors."""

import shutil

import pytest

from segbench.cli import main
from segbench.rundir import load_records, write_record, write_table
from tests.conftest import FAST_CLI, assert_one_line


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "a"
    assert main(["grid", "--encoders", "mobilenet", "--decoders", "skip,unet", "--dataset", "synthetic",
                 "--iterations", "2", "--train-batch-size", "2", "--size", "64x64", "--device", "cpu",
                 "--out", str(out), *FAST_CLI]) == 0
    return out


def _edited(run_dir, tmp_path, **changes):
    copy = tmp_path / "current"
    shutil.copytree(run_dir, copy, ignore=shutil.ignore_patterns("train"))
    for record in load_records(copy):
        if record["decoder"] == "skip":
            record.update(changes)
            write_record(copy, record)
    write_table(copy)
    return copy


def test_compare_passes_on_an_unchanged_run(run_dir, tmp_path):
    md = tmp_path / "summary.md"
    assert main(["compare", str(run_dir), str(run_dir), "--markdown", str(md)]) == 0
    assert "No regressions" in md.read_text()


@pytest.mark.parametrize(
    "changes",
    [{"params": 1}, {"gflops": 99.0}, {"status": "failed", "error": "RuntimeError: x"}],
    ids=["params", "gflops", "newly-failing"],
)
def test_compare_exits_1_on_a_regression(run_dir, tmp_path, changes):
    assert main(["compare", str(run_dir), str(_edited(run_dir, tmp_path, **changes))]) == 1


def test_compare_miou_tolerance_from_flag(run_dir, tmp_path):
    record = next(r for r in load_records(run_dir) if r["decoder"] == "skip")
    lower = _edited(run_dir, tmp_path, miou=record["miou"] - 1.5)
    assert main(["compare", str(run_dir), str(lower), "--miou-drop", "2"]) == 0
    assert main(["compare", str(run_dir), str(lower), "--miou-drop", "1"]) == 1


def test_compare_update_rewrites_the_baseline(run_dir, tmp_path):
    baseline = tmp_path / "baseline"
    assert main(["compare", str(baseline), str(run_dir), "--update"]) == 0
    assert len(load_records(baseline)) == 2 and not (baseline / "train").exists()
    assert main(["compare", str(baseline), str(run_dir)]) == 0


def test_compare_bad_input(tmp_path, capsys, run_dir):
    assert main(["compare", str(tmp_path / "nope"), str(run_dir)]) == 2
    assert main(["compare", str(run_dir), str(run_dir), "--ignore-keys", "colour"]) == 2
    assert capsys.readouterr().err.count("error: ") == 2


@pytest.mark.parametrize(("fmt", "needle"), [("markdown", "| encoder |"), ("latex", "\\toprule"),
                                        ("csv", "encoder,"), ("html", "<table")])
def test_table_formats(run_dir, capsys, fmt, needle):
    assert main(["table", str(run_dir), "--value", "gflops", "--format", fmt]) == 0
    assert needle in capsys.readouterr().out


def test_long_table_and_errors(run_dir, capsys):
    assert main(["table", str(run_dir), "--long"]) == 0
    assert "mobilenet + skip" in capsys.readouterr().out
    assert main(["table", str(run_dir), "--value", "speed"]) == 2
    assert "speed" in capsys.readouterr().err


def test_plot_writes_figures_and_rejects_bad_format(run_dir, tmp_path, capsys):
    assert main(["plot", str(run_dir), "--out", str(tmp_path / "p"), "--images", "1"]) == 0
    written = capsys.readouterr().out.split()
    assert len(written) >= 6
    assert all((tmp_path / "p").joinpath(w.split("/")[-1]).stat().st_size > 0 for w in written)
    assert main(["plot", str(run_dir), "--out", str(tmp_path / "q"), "--format", "jpg"]) == 2
    assert "valid: png, svg, pdf" in capsys.readouterr().err


def test_table_caption_names_the_evaluation_size_beside_the_profiled_one(run_dir, capsys):
    """The grid profiles at --size 64x64 while the synthetic scenes are scored at their own 96x96."""
    record = load_records(run_dir)[0]
    assert (record["input_h"], record["eval_h"], record["eval_w"]) == (64, 96, 96)
    assert main(["table", str(run_dir), "--long", "--columns", "gflops,miou"]) == 0
    out = capsys.readouterr().out
    assert "Costs profiled at input 64x64" in out and "Accuracy scored on synthetic, test split, at 96x96" in out


def test_table_latex_layout_options(run_dir, capsys):
    assert main(["table", str(run_dir), "--long", "--format", "latex", "--wide"]) == 0
    assert "\\begin{table*}" in capsys.readouterr().out
    assert main(["table", str(run_dir), "--long", "--format", "latex", "--longtable", "--width", "0.9\\linewidth"]) == 0
    out = capsys.readouterr().out
    assert "\\end{longtable}" in out and "\\def\\sbwidth{0.9\\linewidth}" in out


@pytest.mark.parametrize(("args", "named"), [
    (["--format", "latex", "--width", "wide"], "--width must be a TeX length"),
    (["--format", "latex", "--wide", "--longtable"], "--wide and --longtable do not combine"),
    (["--wide"], "add --format latex (not markdown)"),
])
def test_table_latex_layout_mistakes_are_one_line(run_dir, capsys, args, named):
    assert_one_line(capsys, main(["table", str(run_dir), "--long", *args]), named)
