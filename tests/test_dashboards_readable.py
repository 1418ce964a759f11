"""History and compare dashboards as people read them, checked in headless Chromium over real stored runs:
history against the run's date (one point per run, not a fractional index), each series as change against
its first run with a button to absolute values on a log axis, every point's hover with its commit, device
and interval (checked against the repetitions); every colour of the compare view named in its legend."""

from __future__ import annotations

import datetime as dt
import math
import re
import time

import numpy as np
import pytest

from harness.analysis.stats import t_quantile
from harness.bench import run_bench
from harness.cli import main
from harness.compare import HISTORY_CONFIDENCE, HISTORY_METRICS, history
from harness.dashboards.history import ABSOLUTE, RELATIVE
from harness.dashboards.html import short_commit
from harness.store import Store
from harness.suite import parse_suite
from tests.browser import dashboard_page
from tests.synthetic_runs import write_run
from tests.test_cli import SMALL_SUITE

_FIGURES_JS = """() => [...document.querySelectorAll('.js-plotly-plot')].map(gd => ({
  xtype: gd._fullLayout.xaxis.type, ytype: gd._fullLayout.yaxis.type, ytitle: gd._fullLayout.yaxis.title.text,
  yrange: gd._fullLayout.yaxis.range,
  ticks: [...gd.querySelectorAll('.xtick text')].map(t => t.textContent),
  traces: gd.data.map(t => ({name: t.name, x: t.x, y: t.y}))}))"""
# the hover label plotly draws for one point, as a mouse over it shows it (plotly drops a hover that comes
# within 50 ms of the one before, and may draw it later on a loaded machine)
_HOVER_JS = """async ([f, c, p]) => {
  const gd = document.querySelectorAll('.js-plotly-plot')[f], sleep = ms => new Promise(done => setTimeout(done, ms));
  Plotly.Fx.unhover(gd);
  await sleep(60);
  Plotly.Fx.hover(gd, [{curveNumber: c, pointNumber: p}]);
  for (let i = 0; i < 40 && !gd.querySelector('.hoverlayer .hovertext'); i++) await sleep(50);
  return gd.querySelector('.hoverlayer').textContent; }"""
# every colour drawn (bars, their whiskers, lines, shapes) and the colour of each entry the legend shows
_COLOURS_JS = """() => {
  const gd = document.querySelector('.js-plotly-plot'), used = new Set(), legend = {};
  const shown = [...gd.querySelectorAll('.legend .traces')].map(n => n.textContent);
  for (const t of gd._fullData) {
    [].concat(t.marker ? t.marker.color : []).forEach(c => used.add(c));
    if (t.error_x && t.error_x.visible) used.add(t.error_x.color);
    if (t.type === 'scatter' && t.mode.includes('lines')) used.add(t.line.color);
    if (t.showlegend && shown.includes(t.name)) legend[t.marker.color] = t.name;
  }
  for (const s of gd._fullLayout.shapes) {
    used.add(s.line.color);
    if (s.showlegend && shown.includes(s.name)) legend[s.line.color] = s.name;
  }
  return {used: [...used], legend, shown}; }"""
_DATE_TICK = re.compile(r"(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)|\d\d:\d\d|^\d{4}$")


def _render(root) -> tuple:
    assert main(["dashboards", "-o", str(root / "dash"), "--results", str(root)]) == 0
    store = Store(root)
    return root / "dash", store, sorted(store.runs(), key=lambda m: m["created_utc"])


@pytest.fixture(scope="module")
def bench_pages(tmp_path_factory, toy_artifact):
    """Two real `harness bench` runs of the toy CNN: its infer (~6 µs) and train (~0.1 ms) series differ many-fold."""
    root = tmp_path_factory.mktemp("bench")
    for n in range(2):
        time.sleep(n)  # runs are dated to the second
        run_bench(parse_suite(SMALL_SUITE), Store(root))
    return _render(root)


@pytest.fixture(scope="module")
def synthetic_pages(tmp_path_factory):
    """Six synthetic runs a day apart, each of its own commit; the last one's wide CNN 25 % slower."""
    root = tmp_path_factory.mktemp("synthetic")
    start = dt.datetime(2026, 3, 1, tzinfo=dt.timezone.utc)
    for i in range(6):
        write_run(Store(root), seed=i, n=40, repetitions=2, created=start + dt.timedelta(days=i), commit=f"{i:02x}" * 20,
                  slowdown={"toy-cnn-wide/last-layer": 1.25} if i == 5 else None)
    return _render(root)


@pytest.fixture(params=["bench_pages", "synthetic_pages"])
def pages(request):
    return request.getfixturevalue(request.param)


@pytest.mark.browser
def test_history_is_plotted_against_the_run_date_one_point_per_run(chromium, pages, tmp_path):
    out, _, runs = pages
    dates = [m["created_utc"].replace("T", " ").removesuffix("Z") for m in runs]
    commits = [short_commit(m["git_commit"]) for m in runs]
    with dashboard_page(chromium, out / "history.html", tmp_path / "profile") as (page, errors):
        figures = page.evaluate(_FIGURES_JS)
    assert errors == []
    assert len(figures) == len(HISTORY_METRICS)
    for figure in figures:
        assert figure["xtype"] == "date"
        assert figure["ticks"] and all(_DATE_TICK.search(t) for t in figure["ticks"]), figure["ticks"]
        assert not any(re.fullmatch(r"-?\d+(\.\d+)?", t) for t in figure["ticks"])  # no run index
        assert figure["ticks"] == [d + c for d, c in zip(dates, commits, strict=True)]  # a tick per run, its commit
        for trace in figure["traces"]:
            assert trace["x"] == dates  # one point per run, at its date


@pytest.mark.browser
def test_history_reads_as_change_against_the_first_run_and_absolute_on_a_log_axis(chromium, bench_pages, tmp_path):
    out, store, _ = bench_pages
    entries = {(" · ".join(e.key), e.metric): e.values for e in history(store).entries}
    with dashboard_page(chromium, out / "history.html", tmp_path / "profile") as (page, errors):
        notes = page.locator(".note").all_inner_texts()
        relative = page.evaluate(_FIGURES_JS)
        for button in page.locator(".updatemenu-button", has_text=ABSOLUTE).all():
            button.click()
        absolute = page.evaluate(_FIGURES_JS)
        page.locator(".updatemenu-button", has_text=RELATIVE).first.click()
        back = page.evaluate(_FIGURES_JS)
    assert errors == []
    assert len(notes) == len(HISTORY_METRICS)
    assert all("change against its own first run, in % on a linear axis" in n and f"'{ABSOLUTE}'" in n and
               "log axis" in n for n in notes)
    for metric, rel, ab in zip(HISTORY_METRICS, relative, absolute, strict=True):
        assert rel["ytype"] == "linear" and RELATIVE in rel["ytitle"]
        assert ab["ytype"] == "log" and "log axis" in ab["ytitle"]
        firsts = []
        for r, a in zip(rel["traces"], ab["traces"], strict=True):
            values = entries[(r["name"], metric)]
            assert r["y"] == pytest.approx([100 * (v / values[0] - 1) for v in values]) and r["y"][0] == 0
            assert a["y"] == pytest.approx(values)
            firsts.append(values[0])
        # µs and sub-ms series, unreadable together on one linear axis: ~17x apart on a quiet machine, 9.5x seen
        # under CI's load (the infer's microseconds stretch most)
        assert max(firsts) / min(firsts) > 4
        _spans_the_values(rel["yrange"], [y for t in rel["traces"] for y in t["y"]])
        _spans_the_values(ab["yrange"], [math.log10(y) for t in ab["traces"] for y in t["y"]])
    assert back[0]["ytype"] == "linear" and back[0]["traces"] == relative[0]["traces"]


def _spans_the_values(y_range: list[float], values: list[float]) -> None:
    """The axis holds every value, and no interval stretches it beyond a margin around them."""
    low, high = min(values), max(values)
    margin = 0.2 * (high - low) or 1.0
    assert low - margin <= y_range[0] <= low and high <= y_range[1] <= high + margin, (y_range, values)


@pytest.mark.browser
def test_every_history_point_hovers_with_commit_device_and_interval(chromium, pages, tmp_path):
    out, _, runs = pages
    commits = {m["run_id"]: short_commit(m["git_commit"]) for m in runs}
    with dashboard_page(chromium, out / "history.html", tmp_path / "profile") as (page, errors):
        figures = page.evaluate(_FIGURES_JS)
        hovers = [(trace["name"], page.evaluate(_HOVER_JS, [f, c, p]))
                  for f, figure in enumerate(figures) for c, trace in enumerate(figure["traces"])
                  for p in range(len(trace["x"]))]
    assert errors == []
    assert len(hovers) == len(HISTORY_METRICS) * len(figures[0]["traces"]) * len(runs)
    seen = set()
    for name, text in hovers:
        run_id = re.search(r"run (\S+)", text).group(1) if "run " in text else None
        assert run_id in commits, text
        seen.add(run_id)
        assert f"commit {commits[run_id]}" in text, text
        assert f"device {name.split(' · ')[0]}" in text, text
        assert re.search(rf"{HISTORY_CONFIDENCE:.0%} CI \[[\d.e+-]+, [\d.e+-]+\] ms over 2 repetitions", text), text
    assert seen == set(commits)
    assert "?" not in commits.values()


@pytest.mark.browser
def test_compare_legend_names_every_colour_it_draws(chromium, pages, tmp_path):
    out, _, _ = pages
    with dashboard_page(chromium, out / "compare.html", tmp_path / "profile") as (page, errors):
        colours = page.evaluate(_COLOURS_JS)
        notes = page.locator(".note").all_inner_texts()
    assert errors == []
    assert set(colours["used"]) <= set(colours["legend"]), colours
    assert any("threshold" in name for name in colours["legend"].values())
    assert any("whiskers, in their bar's colour: the interval" in n for n in notes)


@pytest.mark.browser
def test_compare_legend_explains_the_grey_bars(chromium, synthetic_pages, tmp_path):
    out, _, _ = synthetic_pages
    with dashboard_page(chromium, out / "compare.html", tmp_path / "profile") as (page, errors):
        colours = page.evaluate(_COLOURS_JS)
    assert errors == []
    names = set(colours["legend"].values())
    assert {n for n in names if "no change" in n} and {n for n in names if "(regression)" in n}, names
    assert len(colours["used"]) >= 3  # grey and red bars, the threshold lines


def test_each_run_interval_is_its_median_and_t_times_its_repetitions_spread(synthetic_pages):
    _, store, runs = synthetic_pages
    entry = next(e for e in history(store).entries if e.metric == "latency_p50_ms")
    device, variant, workload = entry.key
    for run, value, (low, high) in zip(runs, entry.values, entry.intervals, strict=True):
        rows = store.results(run["run_id"])
        p50 = rows[(rows["variant"] == variant) & (rows["workload"] == workload)]["p50_ms"].to_numpy(float)
        logs = np.log(p50)
        half = t_quantile((1 + HISTORY_CONFIDENCE) / 2, logs.size - 1) * logs.std(ddof=1) / math.sqrt(logs.size)
        assert value == pytest.approx(np.median(p50))
        assert (low, high) == pytest.approx((value * math.exp(-half), value * math.exp(half)))
