"""bench/run's output: latest.md (a table per workload, ratios against
uvfetch, the targets), latest.csv and latest.json (every run), and a PNG
per workload made with gnuplot."""
import csv
import json
import os
import shutil
import statistics
import subprocess

from workloads import (BY_KEY, CURL_PARALLEL_MAX, DESIGNS, MIB, REFERENCE,
                       UVFETCH)

FIGURES = ["wall", "cpu", "cpu_us_per_req", "rss_kb", "rss_sum_kb",
           "req_s", "mib_s"]


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
    return head + ["wall vs lib", "RSS vs lib", "CPU/req vs lib",
                   "server peak in flight", "notes"]


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
              cell(a, "server_peak_in_flight", 0), "; ".join(notes)]
    return "| " + " | ".join(cells) + " |"


def table(wl, agg, skipped):
    head = columns(wl)
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for d in DESIGNS:
        if d.key in skipped:
            lines.append("| %s | – | skipped |" % d.label +
                         " |" * (len(head) - 4) + " %s |" % skipped[d.key])
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
}


def targets(wl, agg):
    """Lines checking the issue's targets on uvfetch's medians."""
    lines = []
    for text, check, n, arg in TARGETS.get(wl.name, []):
        for key in UVFETCH:
            v = check(agg, wl, BY_KEY[key], n, arg)
            verdict = "no data" if v is None else \
                "%s (%s)" % ("met" if v[0] else "missed", v[1])
            lines.append("- %s at N=%d, %s: %s" % (text, n, BY_KEY[key].label,
                                                   verdict))
    return lines


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
          "urllib opens a new connection per request." % CURL_PARALLEL_MAX]
    md += ["- skipped: %s: %s" % (BY_KEY[k].label, why)
           for k, why in sorted(skipped.items())]
    return md + [""]


def write_report(out, workloads, agg, meta, mach, plots, quick, skipped):
    md = preamble(mach, quick, skipped)
    for wl in workloads:
        m = meta.get(wl.name, {})
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
    return path


def write_raw(out, results, meta, mach):
    cols = ["workload", "design", "n", "n_eff", "rep", "ok", "ok_count",
            "total", "urls", "bytes", "wall", "user", "sys", "cpu",
            "cpu_us_per_req", "rss_kb", "rss_sum_kb", "req_s", "mib_s",
            "server_peak_in_flight", "rc", "timed_out", "notes"]
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
          "curl": "#737373", "python": "#c7b42c"}


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
