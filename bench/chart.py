#!/usr/bin/env python3
"""chart.py - draw bench/run's scaling data as an SVG: two panels side by
side, echo throughput (messages/s) and round-trip p99 (microseconds), each
against the number of connections on a log scale, one line per server.

Usage: chart.py [--title TEXT] SCALING.csv OUT.svg

The CSV has a header line with at least the columns server, connections,
messages_per_s and rtt_p99_us (bench/run writes NAME-scaling.csv); one row
per server and connection count. Python 3 standard library only.
Exit status: 0 written, 1 bad input, 2 bad usage.
"""
import csv
import math
import sys
from xml.sax.saxutils import escape

PANEL_W, PANEL_H = 400, 300  # plot area of one panel, in px
LEFT, GAP, TOP = 80, 110, 56  # margins: y labels, between panels, title
LEGEND_ROW = 22  # px per legend row
COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
           "#8c564b", "#e377c2", "#17becf"]
DASHES = ["", "6,3", "", "2,3", "", "8,3,2,3", "", "4,2"]
MARKERS = ["circle", "square", "triangle", "diamond"]


def read_series(path):
    """{server: [(connections, msgs_per_s, p99_us), ...]} in file order."""
    series = {}
    with open(path, newline="", encoding="utf-8") as f:
        rows = csv.DictReader(f)
        need = {"server", "connections", "messages_per_s", "rtt_p99_us"}
        if rows.fieldnames is None or not need <= set(rows.fieldnames):
            raise ValueError(f"{path}: columns {sorted(need)} expected")
        for n, row in enumerate(rows, start=2):
            try:
                point = (float(row["connections"]),
                         float(row["messages_per_s"]),
                         float(row["rtt_p99_us"]))
            except (TypeError, ValueError):
                raise ValueError(f"{path}:{n}: not a number") from None
            if point[0] <= 0:
                raise ValueError(f"{path}:{n}: connections must be > 0")
            series.setdefault(row["server"], []).append(point)
    if not series:
        raise ValueError(f"{path}: no data")
    for points in series.values():
        points.sort()
    return series


def nice_step(span, ticks=5):
    """A round step (1, 2 or 5 times a power of ten) for about TICKS ticks."""
    raw = span / ticks
    power = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 5, 10):
        if raw <= m * power:
            return m * power
    return 10 * power


def thousands(v):
    """12000 -> "12k", 1500000 -> "1.5M", 10000 -> "10,000" for x ticks."""
    if v >= 1e6:
        return f"{v / 1e6:g}M"
    if v >= 1e3:
        return f"{v / 1e3:g}k"
    return f"{v:g}"


def micro(v):
    """A time in microseconds, in the unit that reads best."""
    if v >= 1e6:
        return f"{v / 1e6:g} s"
    if v >= 1e3:
        return f"{v / 1e3:g} ms"
    return f"{v:g} µs"


class Panel:
    """One plot: log-scale x (connections), linear or log y."""

    def __init__(self, x0, xdecades, ymin, ymax, ylog):
        self.x0 = x0
        self.xlo, self.xhi = xdecades
        self.ymin, self.ymax, self.ylog = ymin, ymax, ylog

    def px(self, conns):
        frac = (math.log10(conns) - self.xlo) / (self.xhi - self.xlo)
        return self.x0 + frac * PANEL_W

    def py(self, v):
        if self.ylog:
            lo, hi = math.log10(self.ymin), math.log10(self.ymax)
            frac = (math.log10(max(v, self.ymin)) - lo) / (hi - lo)
        else:
            frac = (v - self.ymin) / (self.ymax - self.ymin)
        return TOP + PANEL_H - frac * PANEL_H


def axes(out, p, title, ylabel, yticks, yfmt):
    """The frame, grid, ticks, tick labels and axis labels of panel P."""
    x1, y1 = p.x0 + PANEL_W, TOP + PANEL_H
    out.append(f'<text x="{p.x0 + PANEL_W / 2}" y="{TOP - 12}" '
               f'class="panel">{escape(title)}</text>')
    for d in range(p.xlo, p.xhi + 1):
        x = p.px(10 ** d)
        out.append(f'<line x1="{x:.1f}" y1="{TOP}" x2="{x:.1f}" y2="{y1}" '
                   'class="grid"/>')
        out.append(f'<text x="{x:.1f}" y="{y1 + 18}" class="tick">'
                   f'{10 ** d:,}</text>')
    for v in yticks:
        y = p.py(v)
        out.append(f'<line x1="{p.x0}" y1="{y:.1f}" x2="{x1}" y2="{y:.1f}" '
                   'class="grid"/>')
        out.append(f'<text x="{p.x0 - 6}" y="{y + 4:.1f}" class="ytick">'
                   f'{escape(yfmt(v))}</text>')
    out.append(f'<rect x="{p.x0}" y="{TOP}" width="{PANEL_W}" '
               f'height="{PANEL_H}" class="frame"/>')
    out.append(f'<text x="{p.x0 + PANEL_W / 2}" y="{y1 + 40}" class="axis">'
               'connections (log scale)</text>')
    ymid = TOP + PANEL_H / 2
    out.append(f'<text x="{p.x0 - 58}" y="{ymid}" class="axis" '
               f'transform="rotate(-90 {p.x0 - 58} {ymid})">'
               f'{escape(ylabel)}</text>')


def marker(kind, x, y, colour):
    if kind == "square":
        return (f'<rect x="{x - 4:.1f}" y="{y - 4:.1f}" width="8" height="8" '
                f'fill="{colour}"/>')
    if kind == "triangle":
        return (f'<polygon points="{x:.1f},{y - 5:.1f} {x - 5:.1f},'
                f'{y + 4:.1f} {x + 5:.1f},{y + 4:.1f}" fill="{colour}"/>')
    if kind == "diamond":
        return (f'<polygon points="{x:.1f},{y - 5:.1f} {x + 5:.1f},{y:.1f} '
                f'{x:.1f},{y + 5:.1f} {x - 5:.1f},{y:.1f}" '
                f'fill="{colour}"/>')
    return f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4" fill="{colour}"/>'


def draw(series, title):
    conns = [c for pts in series.values() for c, _, _ in pts]
    xdec = (math.floor(math.log10(min(conns))),
            max(math.ceil(math.log10(max(conns))),
                math.floor(math.log10(min(conns))) + 1))
    rates = [m for pts in series.values() for _, m, _ in pts]
    step = nice_step(max(rates) or 1)
    rmax = step * math.ceil((max(rates) or 1) / step)
    p99s = [max(r, 1) for pts in series.values() for _, _, r in pts]
    plo = 10 ** math.floor(math.log10(min(p99s)))
    phi = 10 ** math.ceil(math.log10(max(p99s)))
    phi = phi if phi > plo else plo * 10

    left = Panel(LEFT, xdec, 0, rmax, False)
    right = Panel(LEFT + PANEL_W + GAP, xdec, plo, phi, True)
    width = right.x0 + PANEL_W + 30
    per_row = 4
    rows = (len(series) + per_row - 1) // per_row
    legend_y = TOP + PANEL_H + 68
    height = legend_y + rows * LEGEND_ROW + 10

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" '
           f'height="{height}" viewBox="0 0 {width} {height}" '
           'font-family="sans-serif" font-size="12">',
           '<style>'
           '.grid{stroke:#ddd;stroke-width:1}'
           '.frame{fill:none;stroke:#333;stroke-width:1}'
           '.tick{text-anchor:middle;fill:#333}'
           '.ytick{text-anchor:end;fill:#333}'
           '.axis{text-anchor:middle;font-size:13px;fill:#000}'
           '.panel{text-anchor:middle;font-size:14px;font-weight:bold}'
           '.title{text-anchor:middle;font-size:16px;font-weight:bold}'
           '.legend{fill:#000}'
           '</style>',
           f'<rect width="{width}" height="{height}" fill="#fff"/>',
           f'<text x="{width / 2}" y="22" class="title">'
           f'{escape(title)}</text>']
    rate_ticks = [i * step for i in range(int(round(rmax / step)) + 1)]
    axes(out, left, "Throughput (higher is better)", "messages/s",
         rate_ticks, thousands)
    p99_ticks = [10 ** d for d in range(round(math.log10(plo)),
                                        round(math.log10(phi)) + 1)]
    axes(out, right, "Round trip p99 (lower is better)",
         "round-trip p99 (log scale)", p99_ticks, micro)

    for i, (name, pts) in enumerate(series.items()):
        colour, dash = COLOURS[i % len(COLOURS)], DASHES[i % len(DASHES)]
        kind = MARKERS[i % len(MARKERS)]
        style = f' stroke-dasharray="{dash}"' if dash else ""
        for panel, col in ((left, 1), (right, 2)):
            xy = [(panel.px(pt[0]), panel.py(pt[col])) for pt in pts]
            line = " ".join(f"{x:.1f},{y:.1f}" for x, y in xy)
            out.append(f'<polyline points="{line}" fill="none" '
                       f'stroke="{colour}" stroke-width="2"{style}>'
                       f'<title>{escape(name)}</title></polyline>')
            out.extend(marker(kind, x, y, colour) for x, y in xy)
        lx = LEFT + (i % per_row) * 200
        ly = legend_y + (i // per_row) * LEGEND_ROW
        out.append(f'<line x1="{lx}" y1="{ly}" x2="{lx + 30}" y2="{ly}" '
                   f'stroke="{colour}" stroke-width="2"{style}/>')
        out.append(marker(kind, lx + 15, ly, colour))
        out.append(f'<text x="{lx + 38}" y="{ly + 4}" class="legend">'
                   f'{escape(name)}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def main(argv):
    title = "Echo scaling"
    args = argv[1:]
    if len(args) >= 2 and args[0] == "--title":
        title, args = args[1], args[2:]
    if len(args) != 2 or args[0].startswith("-"):
        print("usage: chart.py [--title TEXT] SCALING.csv OUT.svg",
              file=sys.stderr)
        return 2
    try:
        svg = draw(read_series(args[0]), title)
    except (OSError, ValueError) as e:
        print(f"chart.py: {e}", file=sys.stderr)
        return 1
    with open(args[1], "w", encoding="utf-8") as f:
        f.write(svg)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
