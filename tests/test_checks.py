"""Values checked before anything runs (issue 12, defects 6, 7 and 9): one rule table, one line each.

Every case is refused by the command (exit 2) with one line that names the
option, the suite key or the plugin, no traceback, and no run directory
created: nothing ran.
"""

from __future__ import annotations

import importlib.util
import math
import sys

import pytest

from segbench.checks import RULES, check_values, problem
from segbench.cli import main
from segbench.grid import expand_grid
from segbench.suites import SuiteError, load_suite

GRID = ["grid", "--profile-only", "--device", "cpu", "--encoders", "mobilenet", "--decoders", "skip",
        "--size", "64"]
TRAIN = ["train", "--encoder", "mobilenet", "--decoder", "skip", "--device", "cpu", "--iterations", "1"]


def _one_line_refusal(capsys, rc: int, *names: str) -> str:
    err = capsys.readouterr().err
    assert rc == 2, err
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    for name in names:
        assert name in err, err
    return err


@pytest.mark.parametrize(
    ("args", "names"),
    [
        ([*GRID, "--device", "cpu:abc"], ["--device", "'cpu:abc'"]),
        ([*GRID, "--min-iters", "-1"], ["--min-iters must be a whole number at least 1, not -1"]),
        ([*GRID, "--min-time", "-0.5"], ["--min-time must be a number at least 0, not -0.5"]),
        ([*GRID, "--min-time", "nan"], ["--min-time must be a number at least 0, not nan"]),
        ([*GRID, "--warmup-iters", "-3"], ["--warmup-iters must be a whole number at least 0, not -3"]),
        (["grid", "--device", "cpu", "--lr-warmup", "-1"], ["--lr-warmup must be a whole number at least 0"]),
        ([*TRAIN, "--weight-decay=-1"], ["--weight-decay must be a number at least 0, not -1.0"]),
        ([*TRAIN, "--train-precision", "fp99"], ["--train-precision must be one of fp32, fp16, bf16, not 'fp99'"]),
        ([*TRAIN, "--lr", "0"], ["--lr must be a number above 0, not 0.0"]),
        ([*GRID, "--grad-clip=-1"], ["--grad-clip must be a number at least 0, not -1.0"]),
        (["eval", "--checkpoint", "x.pt", "--crf-iterations", "0"], ["--crf-iterations"]),
    ],
    ids=["device", "min-iters", "min-time", "min-time-nan", "warmup-iters", "lr-warmup", "weight-decay",
         "train-precision", "lr", "grad-clip", "crf-iterations"],
)
def test_bad_option_values_are_refused_before_anything_runs(args, names, tmp_path, capsys):
    out = tmp_path / "out"
    _one_line_refusal(capsys, main([*args, "--out", str(out)] if args[0] != "eval" else args), *names)
    assert not out.exists()


def test_a_malformed_device_index_is_a_value_error_in_the_library_too():
    from segbench.measure.profile import resolve_device

    with pytest.raises(ValueError, match=r"^malformed device 'cpu:abc'; expected auto, cpu, cuda or cuda:N$"):
        resolve_device("cpu:abc")


@pytest.mark.skipif(importlib.util.find_spec("timm") is None, reason="timm is not installed")
def test_an_unknown_timm_model_is_refused_not_recorded_as_a_failed_row(tmp_path, capsys):
    out = tmp_path / "out"
    rc = main(["grid", "--profile-only", "--device", "cpu", "--encoders", "timm:nosuch", "--decoders", "skip",
               "--out", str(out)])
    _one_line_refusal(capsys, rc, "unknown timm model 'nosuch' (encoder 'timm:nosuch')")
    assert not out.exists()


def test_a_size_named_twice_is_one_cell():
    cells = expand_grid(["mobilenet"], ["skip"], sizes=[(64, 64), (64, 64)], precisions=["fp32", "fp32"],
                        batch_sizes=[1, 1], device="cpu")
    assert [c.cell_id for c in cells] == ["mobilenet__skip__64x64__b1__fp32__cpu__c21"]


def test_every_rule_refuses_nan_and_accepts_its_default():
    assert problem("min_time", math.inf) and problem("lr", math.nan) and problem("iterations", True)
    assert problem("devices", []) == "must be a non-empty list of auto, cpu, cuda or cuda:N"
    assert problem("precisions", ["fp32", "fp8"]) and not problem("precisions", ["fp32", "bf16"])
    assert not problem("warmup_iters", 0) and not problem("no_rule_here", -1) and not problem("lr", None)
    with pytest.raises(ValueError, match=r"^\[x\] weight_decay must be a number at least 0, not -1$"):
        check_values({"weight_decay": -1}, label=lambda name: f"[x] {name}")
    assert {"min_iters", "min_time", "warmup_iters", "lr_warmup", "weight_decay", "train_precision"} \
        <= set(RULES)


SUITE = """[suite]
name = "mine"

[grid]
encoders = ["mobilenet"]
decoders = ["skip"]
sizes = ["64x64"]
devices = ["cpu"]

[measure]
min_iters = 2
"""
TRAINED = SUITE + '\n[data]\ndataset = "synthetic"\n\n[train]\niterations = 1\nseeds = [0]\n'


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (SUITE.replace("min_iters = 2", "min_iters = -1"),
         r"\[measure\] min_iters: must be a whole number at least 1, got -1 \(line 11\)$"),
        (SUITE.replace('devices = ["cpu"]', "devices = []"),
         r"\[grid\] devices: must be a non-empty list of auto, cpu, cuda or cuda:N, got \[\] \(line 8\)$"),
        (SUITE.replace('devices = ["cpu"]', 'devices = ["cpu:abc"]'), r"\[grid\] devices: .*'cpu:abc'"),
        (SUITE.replace('sizes = ["64x64"]', "sizes = []"),
         r"\[grid\] sizes: must be a non-empty list, got \[\]"),
        (TRAINED.replace("seeds = [0]", "seeds = []"),
         r"\[train\] seeds: must be a non-empty list, got \[\]"),
        (TRAINED.replace("iterations = 1", "iterations = 1\nweight_decay = -1.0"),
         r"\[train\] weight_decay: must be a number at least 0, got -1.0"),
        (SUITE.replace('name = "mine"', 'name = "../.."'),
         r"\[suite\] name: must be a plain name .*no '/' or '\.\.'"),
        (SUITE.replace('name = "mine"', 'name = "/tmp/elsewhere"'), r"\[suite\] name: must be a plain name"),
    ],
    ids=["min-iters", "no-devices", "bad-device", "no-sizes", "no-seeds", "weight-decay", "name-up",
         "name-abs"],
)
def test_bad_suite_values_name_the_key_and_line(tmp_path, text, message):
    path = tmp_path / "s.toml"
    path.write_text(text)
    with pytest.raises(SuiteError, match=message) as info:
        load_suite(str(path))
    assert str(info.value).startswith(f"{path}: ") and "\n" not in str(info.value)


def test_run_with_empty_sizes_says_so_not_include_exclude(tmp_path, capsys, monkeypatch):
    path = tmp_path / "s.toml"
    path.write_text(SUITE.replace('sizes = ["64x64"]', "sizes = []"))
    monkeypatch.chdir(tmp_path)  # the default run directory would be results/runs/ under here
    err = _one_line_refusal(capsys, main(["run", str(path)]), "[grid] sizes", "non-empty")
    assert "--include" not in err and not (tmp_path / "results").exists()


def test_a_suite_name_cannot_place_the_run_directory_elsewhere(tmp_path, capsys, monkeypatch):
    path = tmp_path / "s.toml"
    path.write_text(SUITE.replace('name = "mine"', 'name = "../../escaped"'))
    monkeypatch.chdir(tmp_path)
    _one_line_refusal(capsys, main(["run", str(path)]), "[suite] name", "results/runs")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.toml"]


@pytest.fixture
def plugin_dir(tmp_path, monkeypatch):
    """A folder on sys.path to write plugin modules into; they are forgotten afterwards."""
    monkeypatch.syspath_prepend(str(tmp_path))
    before = set(sys.modules)
    yield tmp_path
    for name in set(sys.modules) - before:
        if name.startswith("plugin_"):
            del sys.modules[name]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("raise RuntimeError('registry on fire')",
         "plugin 'plugin_raises' failed while imported: RuntimeError: registry on fire"),
        ("import sys\nsys.exit(3)", "plugin 'plugin_exits' failed while imported: SystemExit: 3"),
        ("1 +", "plugin 'plugin_syntax' failed while imported: SyntaxError"),
    ],
    ids=["raises", "exits", "syntax"],
)
def test_a_plugin_that_raises_is_one_line_naming_it(plugin_dir, monkeypatch, capsys, body, message):
    name = message.split("'")[1]
    (plugin_dir / f"{name}.py").write_text(body + "\n")
    monkeypatch.setenv("SEGBENCH_PLUGINS", name)
    _one_line_refusal(capsys, main(["list", "decoders"]), "SEGBENCH_PLUGINS: ", message)


def test_a_relative_plugin_name_is_one_line(monkeypatch, capsys):
    monkeypatch.setenv("SEGBENCH_PLUGINS", ".mine")
    _one_line_refusal(capsys, main(["list", "decoders"]),
                      "SEGBENCH_PLUGINS: plugin '.mine' is a relative module name; give its full dotted name")


def test_a_missing_plugin_still_names_the_import_error(monkeypatch, capsys):
    monkeypatch.setenv("SEGBENCH_PLUGINS", "no_such_plugin_module")
    _one_line_refusal(capsys, main(["list", "decoders"]), "cannot import plugin 'no_such_plugin_module'")


def test_rules_cover_what_the_suites_accept():
    """Every numeric suite key has a rule: a new key cannot slip past the table unnoticed."""
    import typing
    from dataclasses import fields

    from segbench.spec import SECTIONS, CompareSpec

    def numeric(cls: type, name: str) -> bool:
        hint = typing.get_type_hints(cls)[name]
        return any(t in (int, float) for t in (hint, *typing.get_args(hint)))

    keys = {(cls, f) for cls in SECTIONS for f in fields(cls) if numeric(cls, f.name)}
    unchecked = {f.name for cls, f in keys if f.name not in RULES and not f.metadata["rule"] and cls is not CompareSpec}
    # [compare] tolerances are checked by Tolerances itself, with their own one-line errors
    assert unchecked == set(), unchecked
