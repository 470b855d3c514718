#!/usr/bin/env python3
"""Past one core and one machine: --procs K, --shard I/N, uvfetch merge,
and the GNU parallel recipe, against the project's own loopback server.
Run: scale_test.py NAME (env: UVFETCH, UVF_TESTSERVER). With no NAME,
lists the tests."""
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cli_test import (UVFETCH, Server, check, records, run,  # noqa: E402
                      untimed, write_input)

TESTS = {}
HOSTS = ["127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.4"]


def test(fn):
    TESTS[fn.__name__] = fn
    return fn


def hosts_server():
    return Server(",".join(HOSTS))


def many_hosts_urls(s, n, seed):
    """n URLs of every outcome over four hosts (and a refused port), a
    few slow enough to be caught in flight."""
    rnd = random.Random(seed)
    urls = []
    for i in range(n):
        h = HOSTS[rnd.randrange(len(HOSTS))]
        r = rnd.random()
        if r < 0.04:
            urls.append(s.url("/status/404?i=%d" % i, h))
        elif r < 0.06:
            urls.append("not a url %d" % i)
        elif r < 0.08:
            urls.append("http://127.0.0.1:1/refused?i=%d" % i)
        elif r < 0.09:
            urls.append(s.url("/delay/300?i=%d" % i, h))
        else:
            urls.append(s.url("/delay/%d?bytes=%d&i=%d" % (
                rnd.randrange(20), rnd.randrange(3000), i), h))
    return urls


def children(pid):
    """The PIDs of the processes whose parent is pid (its workers), from
    /proc/*/stat (a task's "children" file may miss some)."""
    kids = []
    for name in os.listdir("/proc"):
        try:
            with open("/proc/%s/stat" % name) as f:
                stat = f.read()
        except (OSError, ValueError):
            continue
        fields = stat[stat.rfind(")") + 2:].split()
        if len(fields) > 1 and int(fields[1]) == pid:
            kids.append(int(name))
    return kids


def summary_counts(err):
    m = re.search(r"(\d+) URLs: (\d+) ok, (\d+) failed", err)
    check(m, err)
    return m.groups()


@test
def procs_2_gives_the_report_of_one_process():
    """The same input, bodies and all, fetched by one process and by two
    workers: the same report but for timings, the same bodies, the same
    summary and exit status; with --order done the same records."""
    with hosts_server() as s, tempfile.TemporaryDirectory() as d:
        urls = many_hosts_urls(s, 2000, 1)
        urls.insert(5, '{"url":"%s","method":"POST","body":"x","tag":"t5"}'
                    % s.url("/echo", HOSTS[1]))
        inp = write_input(u + "\n" for u in urls)
        base = ["-j", "40", "--no-progress", "-i", inp]
        rc1, one, err1 = run(base + ["-o", d + "/one"])
        rc2, two, err2 = run(base + ["-o", d + "/two", "--procs", "2"])
        check(rc1 == 1 and rc2 == rc1, "exit %d and %d: %s" % (rc1, rc2, err2))
        check(summary_counts(err1) == summary_counts(err2), err1 + err2)
        check(untimed(one).replace(d + "/one", "D") ==
              untimed(two).replace(d + "/two", "D"),
              "the reports differ")
        check(len(records(two)) == len(urls))
        for name in os.listdir(d + "/one"):
            with open(d + "/one/" + name, "rb") as a, \
                    open(d + "/two/" + name, "rb") as b:
                check(a.read() == b.read(), "body %s differs" % name)
        check(sorted(os.listdir(d + "/one")) == sorted(os.listdir(d + "/two")))
        rc3, done, err3 = run(base + ["--procs", "3", "--order", "done"])
        check(rc3 == rc1, err3)
        nofile = re.sub(r',"file":(null|"[^"]*")', "", untimed(one))
        check(sorted(untimed(done).splitlines()) == sorted(nofile.splitlines()),
              "--order done differs")


@test
def procs_keep_a_host_in_one_worker_so_per_host_holds():
    """One host, --per-host 3, two workers with 20 transfers each: the
    server never sees more than 3 at once, since every URL of the host
    goes to one worker."""
    with Server() as s:
        inp = write_input(s.url("/delay/50?i=%d" % i) + "\n"
                          for i in range(120))
        rc, out, err = run(["-q", "-j", "40", "--procs", "2", "--per-host",
                            "3", "-i", inp])
        check(rc == 0, err)
        peak = s.stats()["peak_in_flight"]
        check(peak <= 3, "peak %d > 3" % peak)
        check([r["index"] for r in records(out)] == list(range(120)))


@test
def procs_worker_killed_with_sigkill_loses_no_url():
    """kill -9 of a worker mid-run: a new worker is handed its URLs, and
    every URL has exactly one record, all of them fetched. Lines go by
    --shard-by url, so that both workers have work until the end (by host,
    the test server's port decides the split, and one worker may have
    nothing and be gone before the kill)."""
    with hosts_server() as s:
        n = 600
        inp = write_input(s.url("/delay/200?i=%d" % i, HOSTS[i % 4]) + "\n"
                          for i in range(n))
        with tempfile.TemporaryFile() as fo, tempfile.TemporaryFile() as fe:
            p = subprocess.Popen([UVFETCH, "-j", "20", "--procs", "2",
                                  "--shard-by", "url", "--no-progress",
                                  "-i", inp], stdout=fo, stderr=fe)
            deadline = time.time() + 20
            while (time.time() < deadline and p.poll() is None and
                   s.stats()["requests"] < 100):
                time.sleep(0.05)
            kids = children(p.pid)
            while time.time() < deadline and len(kids) < 2 and \
                    p.poll() is None:
                time.sleep(0.05)
                kids = children(p.pid)
            if len(kids) == 2:
                os.kill(kids[0], signal.SIGKILL)
            p.wait(timeout=60)
            fo.seek(0)
            fe.seek(0)
            out, err = fo.read(), fe.read().decode()
        check(len(kids) == 2, "workers: %s, exit %s: %s" % (
            kids, p.returncode, err))
        check(p.returncode == 0, "exit %d: %s" % (p.returncode, err))
        check("killed by signal 9" in err and "new worker" in err, err)
        recs = records(out.decode())
        check(sorted(r["index"] for r in recs) == list(range(n)),
              "records missing or twice")
        check([r["index"] for r in recs] == list(range(n)), "not in order")
        check(all(r["ok"] for r in recs), "a URL failed")


@test
def procs_sigint_writes_started_records_and_resumes_from_the_journal():
    """Ctrl-C (SIGINT to the parent, as a terminal sends it to the
    foreground group, where the workers are not): exit 130, records of
    the URLs started in input order with no gap and none twice, the
    summary says how many were not started; the journal then resumes to
    the uninterrupted report."""
    with hosts_server() as s, tempfile.TemporaryDirectory() as d:
        n = 800
        urls = [s.url("/delay/%d?i=%d" % (100 + i % 50, i), HOSTS[i % 4])
                for i in range(n)]
        inp = write_input(u + "\n" for u in urls)
        base = ["-j", "20", "--no-progress", "-i", inp]
        rc, ref, err = run(base)
        check(rc == 0, err)
        journal = os.path.join(d, "j")
        p = subprocess.Popen([UVFETCH] + base + ["--procs", "2", "--journal",
                                                 journal],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.time() + 20
        while time.time() < deadline and s.stats()["requests"] < n + 100:
            time.sleep(0.02)
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=60)
        err = err.decode()
        check(p.returncode == 130, "exit %d: %s" % (p.returncode, err))
        recs = records(out.decode())
        idx = [r["index"] for r in recs]
        check(idx == sorted(set(idx)), "records out of order or twice")
        check(0 < len(recs) < n, "%d records" % len(recs))
        check(all(r["ok"] for r in recs), "a transfer was cut short")
        started, ok, _ = summary_counts(err)
        m = re.search(r"interrupted; (\d+) input URLs not started", err)
        check(m and int(m.group(1)) + int(started) == n, err)
        rc, out, err = run(base + ["--procs", "2", "--journal", journal])
        check(rc == 0, err)
        check(untimed(out) == untimed(ref), "the resumed report differs")


@test
def procs_and_shard_options_are_checked():
    cases = [(["-j", "1", "--procs", "2"], "less than --procs"),
             (["--procs", "2", "--db", "/tmp/x.db"], "--db"),
             (["--procs", "0"], "--procs"),
             (["--shard", "3/3"], "--shard"),
             (["--shard", "1"], "--shard"),
             (["--shard-by", "path"], "--shard-by")]
    for args, said in cases:
        rc, out, err = run(["-q"] + args + ["http://127.0.0.1:1/"])
        check(rc == 2 and said in err, "%s: exit %d: %s" % (args, rc, err))
    rc, out, err = run(["merge"])
    check(rc == 2 and "no files" in err, err)


def shard_runs(inp, n, extra, d, journal=False):
    """Runs the n shards; returns the paths of their reports (or
    journals)."""
    paths = []
    for i in range(n):
        path = os.path.join(d, "%s%d" % ("j" if journal else "r", i))
        args = ["-q", "-j", "20", "--shard", "%d/%d" % (i, n), "-i", inp]
        if journal:
            rc, out, err = run(args + extra + ["--journal", path])
        else:
            rc, out, err = run(args + extra)
            with open(path, "w") as f:
                f.write(out)
        check(rc in (0, 1), err)
        paths.append(path)
    return paths


@test
def shards_merge_into_the_report_of_one_run():
    """Three shards by host, merged from their reports and from their
    journals: the report of one run. Each shard keeps the global index,
    and a host's URLs are all in one shard. merge names what is missing
    and what is there twice."""
    with hosts_server() as s, tempfile.TemporaryDirectory() as d:
        urls = many_hosts_urls(s, 1000, 2)
        inp = write_input(u + "\n" for u in urls)
        rc, ref, err = run(["-q", "-j", "20", "-i", inp])
        check(rc == 1, err)
        reports = shard_runs(inp, 3, [], d)
        origins = [set(re.findall(r'"url":"http://([0-9.]+:[0-9]+)/',
                                  open(p).read())) for p in reports]
        for a in range(3):
            for b in range(a + 1, 3):
                check(not origins[a] & origins[b],
                      "an origin in two shards: %s" % origins)
        rc, out, err = run(["merge", "--expect", str(len(urls))] + reports)
        check(rc == 1, "exit %d: %s" % (rc, err))
        check(untimed(out) == untimed(ref), "merged reports differ")
        journals = shard_runs(inp, 3, [], d, journal=True)
        rc, out, err = run(["merge"] + journals)
        check(rc == 1, err)
        check(untimed(out) == untimed(ref), "merged journals differ")
        rc, out, err = run(["merge", "--expect", str(len(urls) + 2),
                            reports[0], reports[1], reports[1]])
        check(rc == 4, "exit %d" % rc)
        check("found twice" in err and "missing" in err, err)
        lost = sorted(set(range(len(urls) + 2)) -
                      {r["index"] for r in records(open(reports[0]).read()) +
                       records(open(reports[1]).read())})
        check(("missing: %d" % lost[0]) in err, err)


@test
def shard_by_url_spreads_one_host_and_says_its_cap_is_split():
    with Server() as s, tempfile.TemporaryDirectory() as d:
        inp = write_input(s.url("/bytes/3?i=%d" % i) + "\n" for i in range(300))
        counts = []
        for i in range(3):
            rc, out, err = run(["--no-progress", "--per-host", "4",
                                "--shard-by", "url", "--shard", "%d/3" % i,
                                "-i", inp])
            check(rc == 0, err)
            check("up to 3 times" in err, err)
            counts.append(len(records(out)))
        check(sum(counts) == 300 and min(counts) > 50, counts)


@test
def gnu_parallel_runs_the_shards_and_merge_joins_them():
    """The recipe of the man page, run locally: GNU parallel starts one
    uvfetch per shard (with --sshlogin the same line spreads them over
    hosts), uvfetch merge joins the reports."""
    parallel = shutil.which("parallel")
    check(parallel, "GNU parallel is not installed (scripts/deps)")
    with hosts_server() as s, tempfile.TemporaryDirectory() as d:
        urls = many_hosts_urls(s, 600, 3)
        inp = write_input(u + "\n" for u in urls)
        rc, ref, err = run(["-q", "-j", "20", "-i", inp])
        cmd = [parallel, "--will-cite", "--halt", "never",
               UVFETCH + " -q -j 10 --shard {}/4 -i " + inp + " > " + d +
               "/shard{}.jsonl", ":::", "0", "1", "2", "3"]
        p = subprocess.run(cmd, capture_output=True, timeout=120)
        # parallel's status: the number of jobs that failed (exit 1 here:
        # some URLs fail on purpose).
        check(p.returncode <= 4, p.stderr.decode())
        shards = [d + "/shard%d.jsonl" % i for i in range(4)]
        rc2, out, err = run(["merge", "--expect", str(len(urls))] + shards)
        check(rc2 == rc, "exit %d: %s" % (rc2, err))
        check(untimed(out) == untimed(ref), "merged report differs")


def main():
    if len(sys.argv) < 2:
        print("\n".join(TESTS))
        return 0
    TESTS[sys.argv[1]]()
    return 0


if __name__ == "__main__":
    sys.exit(main())
