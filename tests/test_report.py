"""``segbench report``: one HTML file that needs no network, checked by a parser and by a real headless Chromium.

The page is made once (module fixture) through the CLI from the committed smoke baseline, a real run,
with one cell turned into a failure whose error message is hostile HTML: the gate must call it a
regression, and the message must reach the page as text, never as markup.
"""

from __future__ import annotations

import html
import json
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from segbench.cli import main
from segbench.rundir import load_records, write_record, write_table
from tests.conftest import assert_one_line

#: Read from copies only: reading a run whose table.csv is stale rewrites it, and this one is committed.
SMOKE_BASELINE = Path(__file__).resolve().parent.parent / "results" / "baselines" / "smoke"
HOSTILE = '<script>alert(1)</script><img src="http://example.com/x.png">'
#: Every figure ``segbench plot`` makes of the smoke run (it saved no predictions: no qualitative sheet).
SMOKE_FIGURES = {"accuracy_vs_gflops", "accuracy_vs_latency", "latency_memory", "heatmap_miou",
                 "per_class_iou", "training_curves"}


class _Page(HTMLParser):
    """Every tag with its attributes, the text, and the ids, of one HTML page."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def all(self, tag: str) -> list[dict[str, str | None]]:
        return [attrs for name, attrs in self.tags if name == tag]


@pytest.fixture(scope="module")
def page(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("report")
    baseline, run = root / "baseline", root / "current"
    shutil.copytree(SMOKE_BASELINE, baseline)
    shutil.copytree(SMOKE_BASELINE, run)
    record = next(r for r in load_records(run) if r["decoder"] == "skip" and r["encoder"] == "resnet18")
    record.update(status="failed", error=f"RuntimeError: {HOSTILE}")
    write_record(run, record)
    write_table(run)
    out = root / "report.html"
    assert main(["report", str(run), "--baseline", str(baseline), "--suite", "smoke", "--out", str(out)]) == 0
    return out


def test_the_page_references_nothing_outside_itself(page: Path) -> None:
    parsed = _Page(page.read_text())
    links = [(tag, name, value) for tag, attrs in parsed.tags for name, value in attrs.items()
             if name in ("src", "href", "action", "data", "poster")]
    outside = [link for link in links if not (link[2] or "").startswith(("data:", "#"))]
    assert links and not outside, outside
    assert not parsed.all("script") and not parsed.all("link") and not parsed.all("iframe")
    csp = [a for a in parsed.all("meta") if a.get("http-equiv") == "Content-Security-Policy"]
    assert csp and "default-src 'none'" in (csp[0]["content"] or "")
    # The hostile error message arrived as text (in the gate's table and the record), never as a tag.
    assert sum(HOSTILE in chunk for chunk in parsed.text) >= 2


def test_the_page_holds_every_part(page: Path) -> None:
    parsed = _Page(page.read_text())
    ids = {attrs.get("id") for _, attrs in parsed.tags}
    assert {"environment", "gate", "tables", "figures", "cells"} <= ids
    assert {a["alt"] for a in parsed.all("img")} == SMOKE_FIGURES
    assert all((a["src"] or "").startswith("data:image/png;base64,") for a in parsed.all("img"))
    records = {p.stem for p in (SMOKE_BASELINE / "cells").glob("*.json")}
    assert {f"cell-0-{cell}" for cell in records} <= ids  # each cell's record one click away
    text = "".join(parsed.text)
    assert "1 regression" in text and "newly failing" in text  # the gate's verdict on the failed cell
    assert "AMD EPYC" in text  # the environment, from run.json
    # The long table and the pivots, as segbench.tables renders them, and the environment and gate tables.
    assert len(parsed.all("table")) == 6 and text.count("Best per column in bold") == 4
    finding = next(a for a in parsed.all("a") if "resnet18__skip" in (a.get("href") or ""))
    assert (finding["href"] or "").removeprefix("#") in ids  # a finding links to its cell's record


def _browser() -> str | None:
    return next(filter(None, map(shutil.which, ("chromium", "chromium-browser", "google-chrome"))), None)


#: Measures, after everything has loaded, what each framed page rendered: its tables, and for each image
#: its size and the share of opaque pixels on its middle and bottom rows (the figures are opaque; a PNG that
#: decodes only in part leaves the rest transparent, yet reports its full size from its header).
_CHECK = """<!DOCTYPE html><html><body>
<iframe id="report" src="report.html" style="width:1200px;height:900px"></iframe>
<iframe id="control" src="control.html"></iframe>
<pre id="result">not measured</pre>
<script>
function opaque(img) {
  const w = img.naturalWidth, h = img.naturalHeight;
  if (!w || !h) return 0;
  const canvas = document.createElement("canvas");
  canvas.width = w; canvas.height = h;
  const ctx = canvas.getContext("2d");
  ctx.drawImage(img, 0, 0);
  let seen = 0, solid = 0;
  for (const y of [Math.floor(h / 2), h - 1]) {
    const row = ctx.getImageData(0, y, w, 1).data;
    for (let i = 3; i < row.length; i += 4) { seen++; if (row[i] === 255) solid++; }
  }
  return solid / seen;
}
function measure(id) {
  const doc = document.getElementById(id).contentDocument;
  return {
    tables: [...doc.querySelectorAll("table")].map(t => ({rows: t.rows.length,
                                                          height: t.getBoundingClientRect().height})),
    images: [...doc.images].map(i => ({alt: i.alt, width: i.naturalWidth, height: i.naturalHeight,
                                        opaque: opaque(i)})),
  };
}
window.addEventListener("load", () => {
  let result;
  try { result = {report: measure("report"), control: measure("control")}; }
  catch (e) { result = {error: String(e)}; }
  document.getElementById("result").textContent = JSON.stringify(result);
});
</script></body></html>
"""


def _control(figure_src: str) -> str:
    """A page with a table and two images that do not decode: a figure cut short, and a PNG signature alone."""
    cut = figure_src[: len(figure_src) // 3]
    return ('<!DOCTYPE html><html><body><table><tr><td>x</td></tr></table>'
            f'<img alt="cut" src="{cut}"><img alt="signature" src="data:image/png;base64,iVBORw0KGgo="></body></html>')


@pytest.mark.skipif(_browser() is None, reason="no Chromium on PATH (apt-get install chromium); "
                    "the HTML is still checked by the parser tests")
def test_chromium_renders_every_table_and_figure(page: Path, tmp_path: Path) -> None:
    browser = _browser()
    assert browser is not None
    expected = _Page(page.read_text())
    shutil.copy(page, tmp_path / "report.html")
    (tmp_path / "control.html").write_text(_control(expected.all("img")[0]["src"] or ""))
    (tmp_path / "check.html").write_text(_CHECK)
    done = subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--allow-file-access-from-files",
         "--virtual-time-budget=20000", "--dump-dom", (tmp_path / "check.html").as_uri()],
        capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    start = done.stdout.index('<pre id="result">') + len('<pre id="result">')
    result = json.loads(html.unescape(done.stdout[start:done.stdout.index("</pre>", start)]))
    assert "error" not in result, result

    rendered = result["report"]
    assert len(rendered["tables"]) == len(expected.all("table")) == 6
    assert all(t["rows"] > 1 and t["height"] > 0 for t in rendered["tables"]), rendered["tables"]
    assert {i["alt"] for i in rendered["images"]} == SMOKE_FIGURES
    assert all(i["width"] > 100 and i["height"] > 100 and i["opaque"] == 1 for i in rendered["images"]), \
        rendered["images"]
    # The control: images that do not decode are seen (so a figure that did not would fail the test).
    cut, signature = result["control"]["images"]
    assert cut["width"] > 100 and cut["opaque"] < 1 and signature["width"] == 0, result["control"]
    assert result["control"]["tables"][0]["rows"] == 1


def test_bad_input_is_one_line(tmp_path: Path, capsys) -> None:
    out = str(tmp_path / "r.html")
    run = tmp_path / "run"
    shutil.copytree(SMOKE_BASELINE, run)
    assert_one_line(capsys, main(["report", str(tmp_path / "nope"), "--out", out]), "no run at", "nope")
    (tmp_path / "empty").mkdir()
    assert_one_line(capsys, main(["report", str(tmp_path / "empty"), "--out", out]), "not a run directory")
    assert_one_line(capsys, main(["report", str(run), "--baseline", str(tmp_path / "empty"),
                                  "--out", out]), "not a run directory")
    assert_one_line(capsys, main(["report", str(run), "--out", str(tmp_path / "no" / "r.html")]),
                    "cannot write", "folder does not exist")
    assert_one_line(capsys, main(["report", str(run), "--out", str(tmp_path)]), "it is a folder")
    assert_one_line(capsys, main(["report", str(run), "--out", out, "--metric", "speed"]),
                    "speed", "valid")
    assert not list(tmp_path.glob("*.html")) and not list(tmp_path.glob(".*"))


def test_a_table_alone_gives_tables_without_figures(tmp_path: Path, capsys) -> None:
    bare = tmp_path / "bare"
    bare.mkdir()
    shutil.copy(SMOKE_BASELINE / "table.csv", bare / "table.csv")
    baseline = tmp_path / "baseline"
    shutil.copytree(SMOKE_BASELINE, baseline)
    out = tmp_path / "r.html"
    assert main(["report", str(bare), "--baseline", str(baseline), "--out", str(out)]) == 0
    assert "skipped every figure" in capsys.readouterr().err
    parsed = _Page(out.read_text())
    # The long table and three pivots; no run.json, and a gate with nothing to list, make no table.
    assert not parsed.all("img") and len(parsed.all("table")) == 4
    text = "".join(parsed.text)
    assert "No regressions" in text and "No run.json" in text
