#!/usr/bin/env python3
"""check_chart.py - bench/chart.py draws a readable, well-formed SVG.

Usage: check_chart.py CHART.py SCALING.csv WORK_DIR

Draws SCALING.csv and checks the SVG: it parses as XML, is an <svg> with a
size and a viewBox, has both panels' titles and axis labels (connections
on a log scale, messages/s, round-trip p99), the tick labels 1 to 10,000,
one legend entry per server of the CSV, and one line per server in each
panel with one point per row. Then bad input (a missing column, a word
for a number, no file) must fail with status 1 and a message, and bad
usage with 2. Exit status 0 if all holds; 1 with one line per failure.
"""
import csv
import os
import subprocess
import sys
import xml.etree.ElementTree as ET

NS = "{http://www.w3.org/2000/svg}"
failures = []


def check(ok, what):
    if not ok:
        failures.append(what)
        print(f"FAIL: {what}", file=sys.stderr)


def run(chart, *args):
    return subprocess.run([sys.executable, chart, *args], capture_output=True,
                          text=True, timeout=20, check=False)


def check_svg(path, servers):
    root = ET.parse(path).getroot()
    check(root.tag == NS + "svg", f"root element is {root.tag}, not svg")
    for attr in ("width", "height", "viewBox"):
        check(root.get(attr), f"<svg> has no {attr}")
    texts = ["".join(t.itertext()) for t in root.iter(NS + "text")]
    for label, count in (("connections (log scale)", 2), ("messages/s", 1),
                         ("round-trip p99 (log scale)", 1),
                         ("Throughput (higher is better)", 1),
                         ("Round trip p99 (lower is better)", 1),
                         ("1", 2), ("10,000", 2)):
        check(texts.count(label) >= count,
              f"text {label!r} {texts.count(label)} times, not {count}")
    for name, rows in servers.items():
        check(name in texts, f"no legend entry for {name!r}")
        lines = [p for p in root.iter(NS + "polyline")
                 if "".join(p.itertext()) == name]
        check(len(lines) == 2, f"{name!r}: {len(lines)} lines, not 2")
        for line in lines:
            points = line.get("points", "").split()
            check(len(points) == rows,
                  f"{name!r}: {len(points)} points, not {rows}")


def main(argv):
    if len(argv) != 4:
        print("usage: check_chart.py CHART.py SCALING.csv WORK_DIR",
              file=sys.stderr)
        return 2
    chart, data, work = argv[1:]
    servers = {}
    with open(data, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            servers[row["server"]] = servers.get(row["server"], 0) + 1
    check(len(servers) >= 2, "the fixture needs two servers or more")

    svg = os.path.join(work, "scaling.svg")
    r = run(chart, "--title", "fixture", data, svg)
    check(r.returncode == 0, f"chart.py exit {r.returncode}: {r.stderr}")
    if r.returncode == 0:
        try:
            check_svg(svg, servers)
        except ET.ParseError as e:
            check(False, f"not well-formed XML: {e}")

    bad_cases = {
        "no-column.csv": "server,connections,messages_per_s\nx,1,2\n",
        "word.csv": "server,connections,messages_per_s,rtt_p99_us\n"
                    "x,ten,2,3\n",
        "empty.csv": "server,connections,messages_per_s,rtt_p99_us\n",
    }
    for name, text in bad_cases.items():
        path = os.path.join(work, name)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        r = run(chart, path, os.path.join(work, "bad.svg"))
        check(r.returncode == 1 and "chart.py:" in r.stderr and
              "Traceback" not in r.stderr,
              f"{name}: exit {r.returncode}, stderr {r.stderr!r}")
    r = run(chart, os.path.join(work, "missing.csv"),
            os.path.join(work, "bad.svg"))
    check(r.returncode == 1, f"missing file: exit {r.returncode}")
    r = run(chart, data)
    check(r.returncode == 2 and "usage" in r.stderr,
          f"one operand: exit {r.returncode}")
    print(f"check_chart: {len(failures)} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
