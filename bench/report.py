"""bench/run's output: latest.md (a table per workload, ratios against
uvfetch, the targets), latest.csv and latest.json (every run), and a PNG
per workload made with gnuplot."""
import csv
import json
import os
import shutil
import statistics
import subprocess

from workloads import (BY_KEY, CURL_PARALLEL_MAX, DESIGNS, GO, MIB,
                       REFERENCE, UVFETCH)

FIGURES = ["wall", "cpu", "cpu_us_per_req", "rss_kb", "rss_sum_kb",
           "req_s", "mib_s", "conns", "tls_handshakes", "tls_resumed",
           "h2_conns"]


def aggregate(results):
    """(workload, design, n) -> median, min, max of each figure over the
    runs that passed, and the failed runs beside them (never averaged in)."""
    groups = {}
    for r in results:
        groups.setdefault((r["workload"], r["design"], r["n"]), []).append(r)
    agg = {}
    for key, rs in groups.items():
        good = [r for r in rs if r["ok"]]
        a = {"runs": len(rs), "ok_runs": len(good),
             "failed": [r for r in rs if not r["ok"]],
             "worst_ok": min(r["ok_count"] for r in rs)}
        for fig in FIGURES + ["server_peak_in_flight"]:
            vals = [r[fig] for r in good if r.get(fig) is not None]
            if vals:
                a[fig] = (statistics.median(vals), min(vals), max(vals))
        agg[key] = a
    return agg


def median(agg, wl, d, n, fig):
    """The median of a figure, or None if no run of it passed."""
    a = agg.get((wl.name, d.key, d.n_key(wl, n)))
    return a[fig][0] if a and fig in a else None


# ---------------------------------------------------------------- tables

def fmt(v, digits):
    if v is None:
        return "–"
    return "{:,.0f}".format(v) if digits == 0 else "%.*f" % (digits, v)


def cell(a, fig, digits, scale=1.0):
    if fig not in a:
        return "–"
    med, lo, hi = (x * scale for x in a[fig])
    if a["ok_runs"] == 1:
        return fmt(med, digits)
    return "%s (%s–%s)" % (fmt(med, digits), fmt(lo, digits), fmt(hi, digits))


def ratio(a, ref, fig):
    if not ref or fig not in a or fig not in ref or not ref[fig][0]:
        return "–"
    return "%.2fx" % (a[fig][0] / ref[fig][0])


def failure_text(a):
    worst = min(a["failed"], key=lambda r: r["ok_count"])
    s = "%d of %d runs failed (worst ok=%d/%d" % (
        len(a["failed"]), a["runs"], worst["ok_count"], worst["urls"])
    if worst.get("wall") is not None:
        s += ", %.2f s, %.1f MiB" % (worst["wall"], worst["rss_kb"] / 1024)
    s += ")"
    if worst["notes"]:
        s += ": " + worst["notes"].replace("|", "/")
    return "**" + s + "**"


def columns(wl):
    head = ["design", "N", "runs ok", "ok/total", "wall s"]
    if wl.delay_ms:
        head.append("x ideal")
    head += ["CPU s", "CPU µs/req", "peak RSS MiB", "req/s"]
    if wl.body >= MIB:
        head.append("MiB/s")
    head += ["wall vs lib", "RSS vs lib", "CPU/req vs lib",
             "server peak in flight", "conns"]
    if wl.tls:
        head += ["TLS resumed", "h2 conns"]
    return head + ["notes"]


def row(wl, d, n, a, ref):
    """One table row: design d at N=n with figures a, compared with ref."""
    notes = [failure_text(a)] if a["failed"] else []
    if d.effective_n(wl, n) < n:
        notes.append("capped at %d" % d.effective_n(wl, n))
    if "rss_sum_kb" in a:
        notes.append("RSS of every process added up: %s MiB" %
                     fmt(a["rss_sum_kb"][0] / 1024, 1))
    cells = [d.label, str(n) if d.per_n else "all (%d)" % n,
             "%d/%d" % (a["ok_runs"], a["runs"]),
             "%d/%d" % (a["worst_ok"], wl.urls), cell(a, "wall", 3)]
    if wl.delay_ms:
        ideal = wl.ideal(d.effective_n(wl, n))
        cells.append("%.2f (ideal %.2f s)" % (a["wall"][0] / ideal, ideal)
                     if "wall" in a else "–")
    cells += [cell(a, "cpu", 3), cell(a, "cpu_us_per_req", 1),
              cell(a, "rss_kb", 1, 1 / 1024), cell(a, "req_s", 0)]
    if wl.body >= MIB:
        cells.append(cell(a, "mib_s", 0))
    cells += [ratio(a, ref, "wall"), ratio(a, ref, "rss_kb"),
              ratio(a, ref, "cpu_us_per_req"),
              cell(a, "server_peak_in_flight", 0), cell(a, "conns", 0)]
    if wl.tls:
        cells += [cell(a, "tls_resumed", 0), cell(a, "h2_conns", 0)]
    return "| " + " | ".join(cells + ["; ".join(notes)]) + " |"


def table(wl, agg, skipped):
    head = columns(wl)
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    ran = set(k[1] for k in agg)
    for d in DESIGNS:
        why = skipped.get(d.key) or (d.key in ran and d.not_run(wl))
        if why:
            lines.append("| %s | – | not run |" % d.label +
                         " |" * (len(head) - 4) + " %s |" % why)
            continue
        for n in wl.ns if d.per_n else [wl.urls]:
            a = agg.get((wl.name, d.key, n))
            if a is not None:
                # thread per URL is compared with uvfetch at the largest N
                ref = agg.get((wl.name, REFERENCE, n if d.per_n
                               else max(wl.ns)))
                lines.append(row(wl, d, n, a, ref))
    return lines


# ---------------------------------------------------------------- targets
# Each check returns (met, detail) or None when there is no data.

def within_ideal(agg, wl, d, n, pct):
    w = median(agg, wl, d, n, "wall")
    limit = wl.ideal(n) * (1 + pct / 100)
    return None if w is None else (w <= limit,
                                   "%.3f s, limit %.3f s" % (w, limit))


def wall_under(agg, wl, d, n, seconds):
    w = median(agg, wl, d, n, "wall")
    return None if w is None else (w <= seconds, "%.3f s" % w)


def rss_under(agg, wl, d, n, mib):
    r = median(agg, wl, d, n, "rss_kb")
    return None if r is None else (r / 1024 < mib, "%.1f MiB" % (r / 1024))


def reqs_vs_workers(agg, wl, d, n, factor):
    mine = median(agg, wl, d, n, "req_s")
    theirs = median(agg, wl, BY_KEY["workers"], n, "req_s")
    if mine is None or theirs is None:
        return None
    return mine >= factor * theirs, "%.2fx" % (mine / theirs)


def lowest_cpu(agg, wl, d, n, _):
    mine = median(agg, wl, d, n, "cpu_us_per_req")
    others = [(median(agg, wl, o, n, "cpu_us_per_req"), o.label)
              for o in DESIGNS if o.key not in UVFETCH]
    others = [o for o in others if o[0] is not None]
    if mine is None or not others:
        return None
    best = min(others)
    return mine <= best[0], "%.1f µs, best other %.1f µs (%s)" % (
        mine, best[0], best[1])


def versus_go(agg, wl, d, n, fig):
    """(mine, Go's) medians of fig, or None if either is missing."""
    mine = median(agg, wl, d, n, fig)
    go = median(agg, wl, BY_KEY[GO], n, fig)
    return None if mine is None or go is None else (mine, go)


def wall_vs_go(agg, wl, d, n, factor):
    v = versus_go(agg, wl, d, n, "wall")
    return v and (v[0] <= factor * v[1], "%.3f s, Go %.3f s" % v)


def rss_vs_go(agg, wl, d, n, factor):
    v = versus_go(agg, wl, d, n, "rss_kb")
    return v and (v[0] <= factor * v[1], "%.1f MiB, Go %.1f MiB: %.2fx" % (
        v[0] / 1024, v[1] / 1024, v[0] / v[1]))


def cpu_vs_go(agg, wl, d, n, factor):
    v = versus_go(agg, wl, d, n, "cpu_us_per_req")
    return v and (v[0] <= factor * v[1], "%.1f µs, Go %.1f µs" % v)


def reqs_vs_go(agg, wl, d, n, factor):
    v = versus_go(agg, wl, d, n, "req_s")
    return v and (v[0] >= factor * v[1], "%.0f req/s, Go %.0f: %.2fx" % (
        v[0], v[1], v[0] / v[1]))


def conns_at_most(agg, wl, d, n, k):
    """The most connections any passing run opened (server /stats)."""
    a = agg.get((wl.name, d.key, d.n_key(wl, n)))
    if not a or "conns" not in a:
        return None
    return a["conns"][2] <= k, "%d at most (median %d)" % (
        a["conns"][2], a["conns"][0])


def near_best_mbs(agg, wl, d, n, pct):
    mine = median(agg, wl, d, n, "mib_s")
    best = max((v for v in (median(agg, wl, o, n, "mib_s") for o in DESIGNS)
                if v is not None), default=None)
    if mine is None:
        return None
    return mine >= best * (1 - pct / 100), "%.0f MiB/s, best %.0f MiB/s" % (
        mine, best)


TARGETS = {
    "latency": [("wall within 3% of ceil(URLs/N) x delay", within_ideal,
                 400, 3),
                ("peak RSS under 14 MiB", rss_under, 400, 14)],
    "five-hosts": [("wall within 3% of ceil(URLs/N) x delay", within_ideal,
                    100, 3)],
    "throughput": [("req/s at least 1.3x worker threads'", reqs_vs_workers,
                    100, 1.3),
                   ("req/s at least 1.5x worker threads'", reqs_vs_workers,
                    1000, 1.5),
                   ("lowest CPU per request", lowest_cpu, 100, None),
                   ("lowest CPU per request", lowest_cpu, 1000, None)],
    "wide": [("every URL, within 2.5 s", wall_under, 10000, 2.5),
             ("peak RSS under 96 MiB", rss_under, 10000, 96)],
    "bulk": [("within 10% of the best MiB/s", near_best_mbs, 16, 10)],
    # "HTTPS and HTTP/2 as fast and as lean as plain HTTP"
    "latency-tls": [("wall within 1.65 s", wall_under, 400, 1.65),
                    ("peak RSS at most 0.7x Go's", rss_vs_go, 400, 0.7)],
    "wide-tls": [("wall no slower than Go's", wall_vs_go, 2000, 1.0),
                 ("peak RSS at most 0.7x Go's", rss_vs_go, 2000, 0.7)],
    "throughput-tls": [("CPU per request no more than Go's", cpu_vs_go, 100,
                        1.0)],
    "wide-h2": [("wall within 1.3 s", wall_under, 2000, 1.3),
                ("peak RSS under 40 MiB", rss_under, 2000, 40),
                ("at most 4 connections", conns_at_most, 2000, 4)],
    "throughput-h2": [("req/s at least 1.5x Go's", reqs_vs_go, 100, 1.5)],
    "latency-h2": [("wall within 1.6 s", wall_under, 400, 1.6)],
}
# The rows of the targets, in the order of its text.
TLS_TARGET_ROWS = [("HTTP/1.1 over TLS", ["latency-tls", "wide-tls",
                                          "throughput-tls"]),
                   ("h2", ["wide-h2", "throughput-h2", "latency-h2"])]
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def targets(wl, agg, words=("met", "missed"), name=False):
    """Lines checking the issue's targets on uvfetch's medians."""
    lines = []
    for text, check, n, arg in TARGETS.get(wl.name, []):
        for key in UVFETCH:
            v = check(agg, wl, BY_KEY[key], n, arg)
            verdict = "no data" if v is None else \
                "%s (%s)" % (words[0] if v[0] else words[1], v[1])
            lines.append("- %s%s at N=%d, %s: %s" % (
                wl.name + ": " if name else "", text, n, BY_KEY[key].label,
                verdict))
    return lines


# Regressions of the plain rows: a figure of uvfetch's is a regression when
# it is worse than the baseline's median by more than this share, or than
# the baseline's own spread ((max - min) / median) if that is larger.
REGRESSION_TOLERANCE = {"wall": 0.03, "rss_kb": 0.05, "cpu_us_per_req": 0.10}
REGRESSION_TOLERANCE_NO_DELAY = {"wall": 0.05}  # throughput, bulk


def load_baseline(path):
    """The runs of a latest.json to compare the plain rows with, or None."""
    try:
        with open(path) as f:
            old = json.load(f)
    except (OSError, ValueError):
        return None
    runs = old.get("runs", [])
    path = os.path.abspath(path)
    if path.startswith(ROOT + os.sep):
        path = os.path.relpath(path, ROOT)  # no paths outside the repo
    else:
        path = os.path.basename(path)
    return {"path": path, "date": old.get("machine", {}).get("date", "?"),
            "agg": aggregate(runs), "meta": old.get("workloads", {})}


def regression(agg, wl, d, n, base):
    """(pass, detail) for design d at N=n against the baseline, or None."""
    now = agg.get((wl.name, d.key, d.n_key(wl, n)))
    old = base["agg"].get((wl.name, d.key, d.n_key(wl, n)))
    if not now or not old:
        return None
    worse, parts = [], []
    for fig, unit, scale, digits in (("wall", "s", 1, 3),
                                     ("rss_kb", "MiB", 1 / 1024, 1),
                                     ("cpu_us_per_req", "µs/req", 1, 1)):
        if fig not in now or fig not in old or not old[fig][0]:
            continue
        (m, lo, hi), m0 = old[fig], now[fig][0]
        tol = REGRESSION_TOLERANCE[fig]
        if not wl.delay_ms:
            tol = REGRESSION_TOLERANCE_NO_DELAY.get(fig, tol)
        tol = max(tol, (hi - lo) / m)
        change = m0 / m - 1
        parts.append("%s %.*f vs %.*f %s (%+.1f%%, allowed +%.1f%%)" % (
            fig.replace("_kb", "").replace("cpu_us_per_req", "CPU"), digits,
            m0 * scale, digits, m * scale, unit, 100 * change, 100 * tol))
        if change > tol:
            worse.append(fig)
    return not worse, ", ".join(parts)


def regressions(workloads, agg, meta, base):
    """Lines checking uvfetch's figures on the plain rows against the
    baseline's."""
    if base is None:
        return ["- no baseline (no earlier latest.json): not checked"]
    lines = ["Against %s, written %s:" % (base["path"], base["date"]), ""]
    for wl in workloads:
        if wl.tls or meta.get(wl.name, {}).get("skipped"):
            continue
        same = meta.get(wl.name, {}).get("started") == \
            base["meta"].get(wl.name, {}).get("started")
        for key in UVFETCH:
            for n in wl.ns:
                if same:
                    v = "not re-run: the baseline's own runs"
                else:
                    r = regression(agg, wl, BY_KEY[key], n, base)
                    v = "no data" if r is None else "%s (%s)" % (
                        "pass" if r[0] else "miss", r[1])
                lines.append("- %s N=%d, %s: %s" % (wl.name, n,
                                                    BY_KEY[key].label, v))
    return lines


def tls_section(workloads, agg, meta, base):
    """The issue's targets, each with pass/miss and its figures."""
    by_name = {wl.name: wl for wl in workloads}
    md = ["## Targets: HTTPS and HTTP/2 as fast and as lean as plain HTTP",
          "", "Client on one core; medians of the passing runs; "
          "connections from the server's /stats (the most any run opened). "
          "Reported, not enforced.", ""]
    for group, names in TLS_TARGET_ROWS:
        md += ["%s:" % group, ""]
        for name in names:
            wl = by_name.get(name)
            why = meta.get(name, {}).get("skipped") if wl else "not run"
            if wl is None or why:
                md.append("- %s: %s" % (name, why or "not run"))
                continue
            md += targets(wl, agg, ("pass", "miss"), name=True)
        md.append("")
    md += ["No regression of the plain-HTTP rows: uvfetch's wall, peak "
           "RSS and CPU per request may each be worse than the baseline's "
           "median by the baseline's own spread ((max - min) / median) or "
           "by %s (wall 5%% on rows without a delay), whichever is more." %
           ", ".join("%s %d%%" % (k.replace("_kb", "").replace(
               "cpu_us_per_req", "CPU"), 100 * v)
               for k, v in REGRESSION_TOLERANCE.items()), ""]
    md += regressions(workloads, agg, meta, base)
    return md + [""]


# ---------------------------------------------------------------- files

def preamble(mach, quick, skipped):
    md = ["# uvfetch benchmark results", "",
          "Written by `bench/run%s` on %s. Each figure is the median of the "
          "runs that fetched every URL, with (min–max) beside it; a run that "
          "lost or failed a URL is listed as failed and not counted in the "
          "figures. See bench/README.md for the method." % (
              " --quick" if quick else "", mach["date"]), "",
          "- machine: %s, %s cores, Linux %s; libcurl %s, libuv %s; %s; "
          "Python %s" % (mach["cpu"], mach["cores"], mach["kernel"],
                         mach["libcurl"], mach["libuv"], mach["curl_tool"],
                         mach["python"]),
          "- client pinned to core 0 and server to core 1 with taskset: %s; "
          "open files limit %s" % ("yes" if mach["pinned"] else
                                   "no (fewer than 2 cores)",
                                   mach["fd_limit"]),
          "- wall, CPU (user+sys) and peak RSS of the client process and its "
          "children, from wait4() in bench-rusage: GNU time's %e %U %S %M at "
          "µs resolution. Worker processes: the parent's peak RSS plus each "
          "worker's private memory, so that shared pages count once as in "
          "the other designs (the sum of every process's RSS, as `top` adds "
          "up a pool, is in the notes).",
          "- `runs ok`: runs that fetched every URL; `ok/total`: URLs "
          "fetched in the worst run. `x ideal`: wall / (ceil(URLs / N) x "
          "delay). `vs lib`: the "
          "design's median / uvfetch (library)'s at the same N (thread per "
          "URL: at the largest N); above 1 means uvfetch does better. "
          "`server peak in flight`: requests the server held at once, from "
          "its /stats.",
          "- curl --parallel-max is capped at %d by the curl tool; Python's "
          "urllib opens a new connection per request." % CURL_PARALLEL_MAX,
          "- `conns`: connections the client opened (the server's /stats, "
          "less the runner's own); TLS rows: `TLS resumed`, handshakes that "
          "resumed a session, and `h2 conns`, connections that spoke h2. "
          "TLS rows trust %s, given to each design the way it takes a CA "
          "file (see bench/README.md)." % mach.get("ca_bundle", "?")]
    md += ["- skipped: %s: %s" % (BY_KEY[k].label, why)
           for k, why in sorted(skipped.items())]
    return md + [""]


def write_report(out, workloads, agg, meta, mach, plots, quick, skipped,
                 baseline=None):
    """latest.md; returns its path and the issue's target lines (none in a
    quick run) for the console."""
    md = preamble(mach, quick, skipped)
    checks = []
    if not quick and any(wl.tls for wl in workloads):
        checks = tls_section(workloads, agg, meta, baseline)
        md += checks
    for wl in workloads:
        m = meta.get(wl.name, {})
        if m.get("skipped"):
            md += ["## %s: %s" % (wl.name, wl.about()), "",
                   "Not run: %s." % m["skipped"], ""]
            continue
        restarts = m.get("server_starts", 1) - 1
        md += ["## %s: %s" % (wl.name, wl.about()), "",
               "%d runs per figure, started %s at a load average of %s "
               "(1, 5, 15 min: what else the machine was doing)%s." % (
                   m.get("runs", 0), m.get("started", "?"),
                   m.get("loadavg_start", "?"),
                   "; the test server was restarted %d times" % restarts
                   if restarts > 0 else ""), ""]
        md += table(wl, agg, skipped) + [""]
        if plots.get(wl.name):
            md += ["![%s](%s)" % (wl.name, os.path.basename(plots[wl.name])),
                   ""]
        if not quick and wl.name in TARGETS:
            md += ["Targets (reported, not enforced):", ""]
            md += targets(wl, agg) + [""]
    if quick:
        md.append("Quick sizes: the targets are for the full workloads and "
                  "are not checked here.")
    path = os.path.join(out, "latest.md")
    with open(path, "w") as f:
        f.write("\n".join(md) + "\n")
    return path, [line for line in checks if line.startswith("- ")]


def write_raw(out, results, meta, mach):
    cols = ["workload", "design", "n", "n_eff", "rep", "ok", "ok_count",
            "total", "urls", "bytes", "wall", "user", "sys", "cpu",
            "cpu_us_per_req", "rss_kb", "rss_sum_kb", "req_s", "mib_s",
            "server_peak_in_flight", "conns", "tls_handshakes",
            "tls_resumed", "h2_conns", "time_wait_before", "rc", "timed_out",
            "notes"]
    path = os.path.join(out, "latest.csv")
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=cols, extrasaction="ignore")
        w.writeheader()
        w.writerows(results)
    with open(os.path.join(out, "latest.json"), "w") as f:
        json.dump({"machine": mach, "workloads": meta, "runs": results}, f,
                  indent=1)
    return path


def previous(out, keep):
    """Runs and metadata of the workloads named in keep, from the last
    latest.json in out, so that `--only` updates one workload in place."""
    try:
        with open(os.path.join(out, "latest.json")) as f:
            old = json.load(f)
    except (OSError, ValueError):
        return [], {}
    runs = [r for r in old.get("runs", []) if r.get("workload") in keep]
    meta = {k: v for k, v in old.get("workloads", {}).items() if k in keep}
    return runs, meta


# ---------------------------------------------------------------- plots

PANELS = [("wall", "wall seconds", 1.0, False),
          ("rss_kb", "peak RSS MiB (log scale)", 1 / 1024, True),
          ("cpu_us_per_req", "CPU µs per request", 1.0, False)]
COLORS = {"threads": "#8c6bb1", "workers": "#41ab5d", "procs": "#4292c6",
          "uvfetch-lib": "#e6550d", "uvfetch-cli": "#fdae6b",
          "curl": "#737373", "python": "#c7b42c", "go": "#00add8"}


def gnuplot_terminal():
    """The best terminal this gnuplot has, or (None, None)."""
    if not shutil.which("gnuplot"):
        return None, None
    for term, ext in (("pngcairo size 1500,460 noenhanced font ',10'", "png"),
                      ("png size 1500,460 noenhanced", "png"),
                      ("svg size 1500,460 noenhanced", "svg")):
        r = subprocess.run(["gnuplot", "-e", "set terminal " +
                            term.split()[0]], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
        if r.returncode == 0:
            return term, ext
    return None, None


def plot_script(wl, shown, failed, runs, base, out, term):
    """Three panels of bars, one group per N and a bar per design."""
    title = "%s: %s; median of %d runs, bars min-max; thread per URL " \
        "ignores N" % (wl.name, wl.about(), runs)
    if failed:
        title += "\\nevery run failed (no bar): " + ", ".join(failed)
    gp = ["set terminal " + term, "set output '%s'" % out,
          "set datafile missing '?'", "set style data histograms",
          "set style histogram errorbars gap 2 lw 1",
          "set style fill solid 0.85 border -1", "set boxwidth 0.9",
          "set grid ytics", "set offsets graph 0, graph 0, graph 0.1, 0",
          "set key at screen 0.855, screen 0.85 left top vertical Left "
          "reverse samplen 2",
          "set xlabel 'N (transfers in flight, or workers)'",
          "set multiplot layout 1,3 margins 0.05,0.84,0.14,0.86 spacing "
          "0.06,0.1 title \"%s\"" % title]
    for i, (fig, ylabel, _, logy) in enumerate(PANELS):
        gp += ["set ylabel '%s'" % ylabel,
               "set logscale y" if logy else "unset logscale y",
               "set yrange [%s:*]" % ("0.5" if logy else "0"),
               "set key" if i == 0 else "unset key"]
        series = []
        for j, d in enumerate(shown):
            c = 2 + 3 * j
            series.append("%s using %d:%d:%d%s lc rgb '%s' title '%s'" % (
                "'%s-%s.dat'" % (base, fig) if j == 0 else "''", c, c + 1,
                c + 2, ":xtic(1)" if j == 0 else "", COLORS[d.key], d.label))
        gp.append("plot " + ", ".join(series))
    return gp + ["unset multiplot"]


def plot(out, tmp, workloads, agg, meta, ran):
    """One image per workload: wall time, peak RSS and CPU per request
    against N for each design in ran. A design whose every run failed has no
    bar and is named in the title. Returns ({workload: path}, notes)."""
    term, ext = gnuplot_terminal()
    if term is None:
        return {}, ["gnuplot not installed: no plots"]
    made, notes = {}, []
    for wl in workloads:
        shown = [d for d in ran if any(median(agg, wl, d, n, "wall")
                                       is not None for n in wl.ns)]
        if not shown:
            continue
        base = os.path.join(tmp, "plot-%s" % wl.name)
        for fig, _, scale, _ in PANELS:
            with open("%s-%s.dat" % (base, fig), "w") as f:
                for n in wl.ns:
                    cells = ["N=%d" % n]
                    for d in shown:
                        a = agg.get((wl.name, d.key, d.n_key(wl, n)), {})
                        cells += ["%g" % (v * scale) for v in a[fig]] \
                            if fig in a else ["?"] * 3
                    f.write(" ".join(cells) + "\n")
        path = os.path.join(out, "%s.%s" % (wl.name, ext))
        gp = plot_script(wl, shown, [d.label for d in ran if d not in shown],
                         meta.get(wl.name, {}).get("runs", 0), base, path,
                         term)
        with open(base + ".gp", "w") as f:
            f.write("\n".join(gp) + "\n")
        r = subprocess.run(["gnuplot", base + ".gp"], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True)
        if r.returncode == 0:
            made[wl.name] = path
        else:
            notes.append("gnuplot failed for %s: %s" % (
                wl.name, r.stdout.strip()[-300:]))
    return made, notes
