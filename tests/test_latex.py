"""LaTeX tables compiled by a real pdflatex: no overfull box in one- and two-column documents, longtable too."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from segbench.latex import LatexLayout
from segbench.tables import long_table, pivot_table, render, render_long
from tests.test_tables import KNOWN, make_run

#: The seven columns of the table that overflowed by 249 pt before (issue 14).
SEVEN = ["params", "gflops", "latency_ms_median", "throughput_img_s", "peak_mem_mib", "miou", "pixel_acc"]
PACKAGES = ("booktabs", "graphicx", "longtable")


def _missing_tex() -> str | None:
    if shutil.which("pdflatex") is None:
        return ("pdflatex is not installed (apt-get install --no-install-recommends texlive-latex-base "
                "texlive-latex-recommended)")
    kpsewhich = shutil.which("kpsewhich")
    missing = [p for p in PACKAGES if kpsewhich and not subprocess.run(
        [kpsewhich, f"{p}.sty"], capture_output=True, text=True).stdout.strip()]
    return f"LaTeX packages missing: {', '.join(missing)} (texlive-latex-recommended)" if missing else None


needs_tex = pytest.mark.skipif(_missing_tex() is not None, reason=_missing_tex() or "")


def compile_log(tmp_path: Path, name: str, body: str, options: str = "", passes: int = 1) -> str:
    """pdflatex ``body`` in an article (a longtable needs two passes to settle its widths); the last log."""
    tex = tmp_path / f"{name}.tex"
    preamble = [rf"\documentclass[{options}]{{article}}", rf"\usepackage{{{','.join(PACKAGES)}}}", r"\begin{document}"]
    tex.write_text("\n".join([*preamble, body, r"\end{document}", ""]), encoding="utf-8")
    for _ in range(passes):
        done = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "-no-shell-escape",
                               tex.name], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    log = (tmp_path / f"{name}.log").read_text(encoding="utf-8", errors="replace")
    assert done.returncode == 0, log[-3000:]
    assert (tmp_path / f"{name}.pdf").stat().st_size > 0
    return log


def overfull(log: str) -> list[str]:
    return re.findall(r"Overfull \\hbox \(([\d.]+pt) too wide\)", log)


@pytest.fixture(scope="module")
def wide_runs(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Two seeds of 4 models with long labels and every one of the seven columns filled."""
    root = tmp_path_factory.mktemp("latex")
    extra = {"peak_mem_mib": 1234.5, "pixel_acc": 91.25, "pretrained": True}
    return [make_run(root / f"s{seed}", seed, KNOWN, **extra) for seed in (0, 1)]


@needs_tex
def test_a_seven_column_table_fits_one_and_two_column_pages(tmp_path: Path, wide_runs: list[Path]):
    table = long_table(wide_runs, SEVEN)
    float_table = render_long(table, "latex")
    wide = render_long(table, "latex", layout=LatexLayout(wide=True))
    pivot = render(pivot_table(wide_runs, "miou"), "miou", "latex")
    assert r"\begin{table*}" in wide and "(M)" in float_table and r"(\%)" in float_table  # name over unit
    log = compile_log(tmp_path, "one", float_table + pivot)
    assert overfull(log) == []
    log = compile_log(tmp_path, "two", float_table + wide + pivot, "twocolumn")
    assert overfull(log) == []
    # The check can fail: the same table set at its natural size runs past the page.
    natural = float_table.replace(r"\ifdim\wd0>\sbwidth\resizebox{\sbwidth}{!}{\box0}\else\leavevmode\box0\fi",
                                  r"\normalsize\sbtabular")
    assert natural != float_table
    assert overfull(compile_log(tmp_path, "natural", natural, "twocolumn"))


@needs_tex
def test_a_seven_column_longtable_fits_across_pages(tmp_path: Path, wide_runs: list[Path]):
    # Thirty-two models (the RTSeg grid's size), named at length: the table breaks over pages, and at
    # \scriptsize it is still too wide, so its label column wraps.
    cells = {(f"efficientnet_lite{i}_imagenet_distilled", decoder): KNOWN[("mobilenet_v2", decoder)]
             for i in range(16) for decoder in ("skip", "unet")}
    runs = [make_run(tmp_path / f"s{seed}", seed, cells, peak_mem_mib=1234.5, pixel_acc=91.25) for seed in (0, 1)]
    table = long_table(runs, SEVEN)
    assert len(table) == 32
    text = render_long(table, "latex", layout=LatexLayout(longtable=True))
    assert r"\sbbegin" in text and r"\end{longtable}" in text
    short = render_long(long_table(wide_runs, SEVEN[:3]), "latex", layout=LatexLayout(longtable=True))
    log = compile_log(tmp_path, "long", text + short, passes=2)
    assert overfull(log) == []
    assert re.search(r"Output written on long\.pdf \(([2-9]|\d\d) pages", log)  # it did break across pages
