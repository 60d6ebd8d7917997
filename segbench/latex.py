r"""LaTeX tables that fit the page: booktabs rules, two-line headers, ``table*`` and ``longtable``.

A table's width depends on the document's fonts, so it is measured where it is
known, by TeX itself. The emitted code typesets the tabular into a box at
``\normalsize``, ``\small``, ``\footnotesize`` and ``\scriptsize`` and keeps
the largest size at which it fits the target width (``\linewidth`` unless
told otherwise). A float (``table``/``table*``) that is still too wide at
``\scriptsize`` is scaled down to the width with graphicx's ``\resizebox``; a
``longtable`` cannot be scaled (it breaks across pages), so it goes down to
``\tiny`` with narrower column gaps. The document needs booktabs and graphicx
(and longtable for ``--longtable``): texlive-latex-base and
texlive-latex-recommended on Debian.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from segbench.checks import Rule
from segbench.spec import setting

#: A TeX length: a multiple of a length command (``\linewidth``, ``0.8\textwidth``) or a number with a unit.
_LENGTH = re.compile(r"^(?:\d*\.?\d+)?\\[A-Za-z]+$|^\d*\.?\d+(?:pt|mm|cm|in|bp|pc|em|ex)$")
WIDTH = Rule(lambda v: isinstance(v, str) and bool(_LENGTH.match(v)),
             r"a TeX length such as \linewidth, 0.8\textwidth or 12cm")


@dataclass(frozen=True)
class LatexLayout:
    """How a LaTeX table sits on the page: the width it must fit, ``table*``, ``longtable``."""

    section = "table"
    width: str | None = setting(
        None, r"LaTeX: the width the table must fit, e.g. 0.9\linewidth or 12cm (default: \linewidth; "
        r"\textwidth with --wide).", rule=WIDTH)
    wide: bool = setting(False, "LaTeX: a table* spanning both columns of a two-column paper.")
    longtable: bool = setting(False, "LaTeX: a longtable, which breaks across pages (one-column documents).")

    def __post_init__(self) -> None:
        if self.wide and self.longtable:
            raise ValueError("--wide and --longtable do not combine: longtable works in one-column documents "
                             "only; use --wide for a two-column paper, --longtable for a long one-column table")

    @property
    def target(self) -> str:
        """The width as TeX reads it."""
        return self.width or (r"\textwidth" if self.wide else r"\linewidth")


_SPECIALS = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
             "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}
_SPECIALS_RE = re.compile("|".join(re.escape(c) for c in _SPECIALS))


def latex_escape(text: str) -> str:
    """Escape LaTeX's special characters (mobilenet_v2 -> mobilenet\\_v2); ± becomes $\\pm$."""
    return _SPECIALS_RE.sub(lambda m: _SPECIALS[m.group()], str(text)).replace("±", r"$\pm$")


@dataclass(frozen=True)
class Head:
    """A column's head: its name, with its unit on a second line."""

    name: str
    unit: str = ""


def _row(cells: Sequence[str]) -> str:
    return " & ".join(cells) + r" \\"


def _head_rows(corner: str, heads: Sequence[Head], span: str | None) -> list[str]:
    """Rules and header rows: an optional spanning title, the names, then the units where any has one."""
    ncols = len(heads)
    rows = [r"\toprule"]
    if span:
        rows += [_row(["", rf"\multicolumn{{{ncols}}}{{c}}{{{latex_escape(span)}}}"]),
                 rf"\cmidrule(lr){{2-{ncols + 1}}}"]
    rows.append(_row([latex_escape(corner), *(latex_escape(h.name) for h in heads)]))
    if any(h.unit for h in heads):
        rows.append(_row(["", *(latex_escape(f"({h.unit})") if h.unit else "" for h in heads)]))
    return [*rows, r"\midrule"]


def _fitting(head: list[str], body: list[str], spec: str, width: str) -> list[str]:
    r"""Definitions that measure the tabular and set ``\sbsize`` to the largest size at which it fits.

    ``\sbsize`` stays empty where even ``\scriptsize`` is too wide.
    """
    return [
        rf"% segbench: set at the largest font size at which the table fits {width}",
        rf"\def\sbwidth{{{width}}}%",
        r"\def\sbhead{%", *head, "}%",
        r"\def\sbbody{%", *body, "}%",
        rf"\def\sbtabular{{\begin{{tabular}}{{{spec}}}\sbhead\sbbody\bottomrule\end{{tabular}}}}%",
        r"\def\sbsize{}%",
        r"\def\sbtry#1{\setbox0=\hbox{#1\sbtabular}\ifdim\wd0>\sbwidth\else\def\sbsize{#1}\fi}%",
        r"\sbtry\scriptsize\sbtry\footnotesize\sbtry\small\sbtry\normalsize",
    ]


def _wrapping(corner: str, labels: Sequence[str]) -> list[str]:
    r"""For a longtable too wide at ``\scriptsize``: the label column wraps, in what width the numbers leave.

    That width is the target less the table's natural width without its label
    column (both measured); below 4em the font goes down to ``\tiny`` with
    narrower gaps, and it is never under 2em (only dozens of columns get there).
    """
    listed = r" \\ ".join(latex_escape(text) for text in [corner, *labels])
    return [
        rf"\def\sblabels{{{listed}}}%",
        r"\def\sbwrap#1{\def\sbsize{#1}\setbox0=\hbox{#1\sbtabular}%",
        r"  \setbox2=\hbox{#1\begin{tabular}{@{}l@{}}\sblabels\end{tabular}}\dimen0=\dimexpr\sbwidth-\wd0+\wd2\relax}%",
        r"\def\sbfirst{l}%",
        r"\ifx\sbsize\empty",
        r"  \sbwrap\scriptsize\ifdim\dimen0<4em \sbwrap{\tiny\setlength\tabcolsep{2pt}}\fi",
        r"  \ifdim\dimen0<2em \dimen0=2em \fi",
        r"  \edef\sbfirst{p{\the\dimen0}}\def\sbl{\raggedright\hspace{0pt}}%",
        r"\fi",
    ]


def _wrappable(label: str) -> str:
    r"""A label that may wrap in a ``p`` column: ``\sbl`` (``\raggedright`` there) and breaks after ``_``."""
    return r"\sbl " + latex_escape(label).replace(r"\_", r"\_\allowbreak{}")


def latex_table(
    corner: str,
    heads: Sequence[Head],
    labels: Sequence[str],
    cells: Sequence[Sequence[str]],
    caption: str,
    *,
    span: str | None = None,
    label: str | None = None,
    layout: LatexLayout | None = None,
) -> str:
    """A booktabs table of ``labels`` (one per row) by ``heads``; ``cells`` are LaTeX already, the rest plain text.

    ``span`` is a title over every column but the first (the metric of a pivot).
    """
    layout = layout or LatexLayout()
    ncols = len(heads)
    spec = f"@{{}}l{'r' * ncols}@{{}}"
    head = _head_rows(corner, heads, span)
    rows = list(zip(labels, cells, strict=True))
    body = [_row([latex_escape(text), *row]) for text, row in rows]
    caption_tex = rf"\caption{{{latex_escape(caption)}}}" + (rf"\label{{{label}}}" if label else "")
    if layout.longtable:
        lines = [r"\begingroup\let\sbl\relax",
                 *_fitting(head, [_row([_wrappable(text), *row]) for text, row in rows], spec, layout.target),
                 *_wrapping(corner, labels),
                 rf"\edef\sbbegin{{\noexpand\begin{{longtable}}{{@{{}}\sbfirst\space {'r' * ncols}@{{}}}}}}%",
                 r"\sbsize\setlength\LTcapwidth{\sbwidth}%",
                 r"\sbbegin",
                 caption_tex + r" \\",
                 r"\sbhead", r"\endfirsthead",
                 rf"\multicolumn{{{ncols + 1}}}{{@{{}}l}}{{\tablename~\thetable{{}} (continued)}} \\",
                 r"\sbhead", r"\endhead",
                 rf"\midrule \multicolumn{{{ncols + 1}}}{{r@{{}}}}{{(continued on the next page)}} \\",
                 r"\endfoot",
                 r"\bottomrule", r"\endlastfoot",
                 r"\sbbody",
                 r"\end{longtable}",
                 r"\endgroup"]
        return "\n".join(lines) + "\n"
    env = "table*" if layout.wide else "table"
    lines = [rf"\begin{{{env}}}[t]", r"\centering", caption_tex,
             r"\begingroup",
             *_fitting(head, body, spec, layout.target),
             r"\ifx\sbsize\empty\def\sbsize{\scriptsize}\fi",
             r"\setbox0=\hbox{\sbsize\sbtabular}%",
             r"\ifdim\wd0>\sbwidth\resizebox{\sbwidth}{!}{\box0}\else\leavevmode\box0\fi",
             r"\endgroup",
             rf"\end{{{env}}}"]
    return "\n".join(lines) + "\n"
