#!/usr/bin/env python3
"""The uvfetch command, one behaviour per test, against the project's own
loopback server. Run: cli_test.py NAME (env: UVFETCH, UVF_TESTSERVER,
UVF_MANPAGE). With no NAME, lists the tests."""
import fcntl
import http.server
import json
import os
import random
import re
import resource
import select
import signal
import subprocess
import sys
import tempfile
import termios
import threading
import time

UVFETCH = os.environ.get("UVFETCH", "")
SERVER = os.environ.get("UVF_TESTSERVER", "")
TESTS = {}
REQUESTS = []  # tests of requests: also the meson suite "requests"


def test(fn):
    TESTS[fn.__name__] = fn
    return fn


def request_test(fn):
    REQUESTS.append(fn.__name__)
    return test(fn)


def die_with_parent():
    """In a child: SIGTERM when the test dies, even killed on a timeout
    (it would otherwise hold the test's output pipes open)."""
    import ctypes
    ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class Server:
    def __init__(self, bind="127.0.0.1"):
        self.p = subprocess.Popen(
            [SERVER, "--bind", bind, "--max-seconds", "300", "--quiet"],
            stdout=subprocess.PIPE, preexec_fn=die_with_parent)
        line = self.p.stdout.readline().decode()
        m = re.match(r"PORT (\d+)", line)
        assert m, "server said %r" % line
        self.port = int(m.group(1))

    def url(self, path, host="127.0.0.1"):
        return "http://%s:%d%s" % (host, self.port, path)

    def stats(self):
        import urllib.request
        with urllib.request.urlopen(self.url("/stats"), timeout=5) as r:
            return json.loads(r.read())

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.p.terminate()
        self.p.wait(timeout=10)


def run(args, stdin=None, timeout=120):
    p = subprocess.run([UVFETCH] + args, input=stdin, capture_output=True,
                       timeout=timeout)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


def records(out):
    return [json.loads(line) for line in out.splitlines()]


def write_input(lines):
    f = tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False)
    f.write("".join(lines))
    f.close()
    return f.name


def check(cond, msg="check failed"):
    if not cond:
        raise AssertionError(msg)


@test
def thousand_urls_in_input_order_with_bodies_by_index():
    random.seed(3)
    with Server() as s, tempfile.TemporaryDirectory() as d:
        urls = [s.url("/delay/%d?bytes=%d&i=%d" % (random.randrange(40),
                                                 i % 2000, i))
                for i in range(1000)]
        inp = write_input(u + "\n" for u in urls)
        rc, out, err = run(["-j", "50", "-q", "-i", inp, "-o", d + "/b"])
        check(rc == 0, "exit %d: %s" % (rc, err))
        recs = records(out)
        check(len(recs) == 1000, "%d records" % len(recs))
        for i, r in enumerate(recs):
            check(r["index"] == i and r["url"] == urls[i], "order at %d" % i)
            check(r["ok"] is True and r["error"] is None and r["status"] == 200)
            check(r["bytes"] == i % 2000, "bytes at %d" % i)
            check(r["file"] == os.path.join(d + "/b", str(i)), r["file"])
            check(os.path.getsize(r["file"]) == i % 2000)
        check(sorted(os.listdir(d + "/b"), key=int) ==
              [str(i) for i in range(1000)])
        peak = s.stats()["peak_in_flight"]
        check(peak <= 50, "peak %d > 50" % peak)


@test
def per_host_cap_holds_across_hosts():
    hosts = ["127.0.0.%d" % i for i in range(1, 4)]
    with Server(",".join(hosts)) as s:
        urls = [s.url("/delay/10?i=%d" % i, hosts[i % 3]) for i in range(150)]
        rc, out, err = run(["-j", "30", "--per-host", "2", "-q"] + urls)
        check(rc == 0, err)
        check(len(records(out)) == 150)
        by_addr = s.stats()["peak_in_flight_by_addr"]
        for h in hosts:
            check(by_addr[h] <= 2, "host %s peak %d" % (h, by_addr[h]))


@test
def order_done_streams_in_completion_order():
    with Server() as s:
        urls = [s.url("/delay/600"), s.url("/delay/1")]
        rc, out, _ = run(["--order", "done", "-q"] + urls)
        check(rc == 0)
        check([r["index"] for r in records(out)] == [1, 0])
        rc, out, _ = run(["-q"] + urls)
        check(rc == 0)
        check([r["index"] for r in records(out)] == [0, 1])


@test
def input_skips_comments_and_blanks_and_names_bad_lines():
    with Server() as s:
        inp = write_input([
            "# a comment\r\n", "\r\n", s.url("/bytes/3") + "\r\n",
            "   \n", "not a url at all\n", "  # indented comment\n",
            s.url("/bytes/5") + "\n", "ftp://127.0.0.1/x\n"])
        rc, out, err = run(["-q", "-i", inp])
        check(rc == 1, "exit %d" % rc)
        recs = records(out)
        check([r["index"] for r in recs] == [0, 1, 2, 3])
        check(recs[0]["ok"] and recs[0]["bytes"] == 3)
        check(recs[1]["error"] == "invalid_url")
        check("line 5" in recs[1]["message"], recs[1]["message"])
        check(recs[2]["ok"] and recs[2]["bytes"] == 5)
        check(recs[3]["error"] == "invalid_url" and "line 8" in
              recs[3]["message"])


@test
def exit_status_is_0_1_or_2():
    with Server() as s:
        check(run(["-q", s.url("/bytes/1")])[0] == 0)
        check(run(["-q", s.url("/bytes/1"), s.url("/status/503")])[0] == 1)
    check(run(["--no-such-option"])[0] == 2)
    check(run(["-j", "zero", "http://127.0.0.1:1/"])[0] == 2)
    rc, _, err = run(["-i", "/nonexistent/urls.txt"])
    check(rc == 2 and "/nonexistent/urls.txt" in err, err)


@test
def stdin_is_read_with_dash():
    with Server() as s:
        data = "".join(s.url("/bytes/%d" % i) + "\n" for i in range(20))
        rc, out, _ = run(["-q", "-i", "-"], stdin=data.encode())
        check(rc == 0)
        check([r["bytes"] for r in records(out)] == list(range(20)))


@test
def records_carry_each_error_kind():
    with Server() as s:
        urls = [s.url("/status/404"), s.url("/stall"), s.url("/drop"),
                s.url("/bytes/500000"), "https://127.0.0.1:%d/" % s.port,
                "http://127.0.0.1:1/", "mailto:x@y"]
        # /drop promises 100,000 bytes: under --max-body, then a reset.
        rc, out, _ = run(["-q", "--timeout", "0.5", "--max-body", "200k"] +
                         urls)
        check(rc == 1)
        kinds = [r["error"] for r in records(out)]
        check(kinds == ["http", "timeout", "protocol", "too_large", "tls",
                        "connect", "invalid_url"], kinds)
        for r in records(out):
            check(r["ok"] is False and r["message"])
        # The cause, not "select/poll returned error".
        check("reset" in records(out)[2]["message"], records(out)[2])


@test
def closed_standard_output_is_a_usage_error_not_a_crash():
    with Server() as s:
        p = subprocess.run(["sh", "-c", 'exec "$0" "$@" >&-', UVFETCH, "-q",
                            s.url("/bytes/1")], capture_output=True,
                           timeout=60)
        check(p.returncode == 2, p.stderr)
        check(b"standard output is closed" in p.stderr, p.stderr)
        p = subprocess.run(["sh", "-c", 'exec "$0" "$@" <&-', UVFETCH, "-q",
                            "-i", "-"], capture_output=True, timeout=60)
        check(p.returncode == 0 and p.stdout == b"", p.stderr)


@test
def a_reader_that_leaves_ends_the_run_quietly_with_141():
    with Server() as s:
        inp = write_input(s.url("/bytes/100?i=%d" % i) + "\n"
                          for i in range(20000))
        p = subprocess.Popen([UVFETCH, "-j", "50", "-i", inp],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        first = p.stdout.readline()
        p.stdout.close()  # as `| head -1` does
        err = p.stderr.read().decode()
        rc = p.wait(timeout=60)
        check(first.startswith(b'{"index":0,'), first)
        check(rc == 141, "exit %d: %s" % (rc, err))
        check(err == "", err)


@test
def bad_location_from_the_server_is_protocol_not_the_inputs_fault():
    with Server() as s:
        inp = write_input([s.url("/redirect-to?url=http%3A%2F%2F%5B%3A%3A1")
                           + "\n"])
        rc, out, _ = run(["-q", "-i", inp,
                          s.url("/redirect-to?url=http%3A%2F%2F")])
        check(rc == 1)
        for r in records(out):
            check(r["error"] == "protocol", r)
            check("from the server" in r["message"], r["message"])
            check("argument" not in r["message"] and
                  "line" not in r["message"], r["message"])


def padded_urls(s, n, path="/delay/300"):
    """n URLs whose records are about 2.4 KiB: a pipe (64 KiB) fills after
    some 27 of them."""
    pad = "p" * 1000
    return [s.url("%s?i=%d&pad=%s" % (path, i, pad)) for i in range(n)]


@test
def a_reader_pausing_longer_than_the_timeout_costs_no_failure():
    with Server() as s:
        inp = write_input(u + "\n" for u in padded_urls(s, 100))
        p = subprocess.Popen([UVFETCH, "-q", "-j", "50", "--timeout", "2",
                              "-i", inp], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
        try:
            time.sleep(5)  # the reader pauses, then reads everything
            out, err = p.communicate(timeout=60)
        finally:
            p.kill()
        recs = records(out.decode())
        failed = [(r["index"], r["message"]) for r in recs if not r["ok"]]
        check(not failed, "%d failed: %s" % (len(failed), failed[:3]))
        check(p.returncode == 0 and len(recs) == 100, (p.returncode, err))


@test
def a_terminal_held_with_ctrl_s_costs_no_failure():
    with Server() as s, tempfile.TemporaryDirectory() as d:
        inp = write_input(u + "\n" for u in padded_urls(s, 100))
        journal = os.path.join(d, "journal")
        master, slave = os.openpty()
        termios.tcflow(slave, termios.TCOOFF)  # Ctrl-S: output held
        p = subprocess.Popen([UVFETCH, "--progress", "-j", "50", "--timeout",
                              "2", "-i", inp, "--journal", journal],
                             stdin=subprocess.DEVNULL, stdout=slave,
                             stderr=slave)
        reader = threading.Thread(target=drain_fd, args=(master,))
        reader.start()
        try:
            time.sleep(5)  # longer than --timeout
            termios.tcflow(slave, termios.TCOON)  # Ctrl-Q
            rc = p.wait(timeout=60)
        finally:
            p.kill()
            os.close(slave)
            os.close(master)
            reader.join()
        with open(journal) as f:
            recs = [json.loads(l.split(" ", 6)[6]) for l in f.readlines()[1:]]
        failed = [(r["index"], r["message"]) for r in recs if not r["ok"]]
        check(rc == 0 and len(recs) == 100 and not failed,
              (rc, len(recs), failed[:3]))


@test
def a_signal_while_the_reader_pauses_acts_within_the_grace_period():
    with Server() as s:
        inp = write_input(u + "\n" for u in padded_urls(s, 100))
        p = subprocess.Popen([UVFETCH, "-j", "50", "--grace", "2", "-i", inp],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            wait_in_flight(s, 50)
            time.sleep(0.2)
            t0 = time.time()
            p.send_signal(signal.SIGTERM)  # the reader has not read a byte
            rc = p.wait(timeout=10)
            took = time.time() - t0
            out, err = p.stdout.read().decode(), p.stderr.read().decode()
        finally:
            p.kill()
        check(rc == 130, "exit %d: %s" % (rc, err))
        check(took < 2 + 2.5, "ended %.1f s after the signal" % took)
        check(re.search(r"\d+ records were not written", err), err)
        recs = records(out)  # whole lines only, as far as they came
        check(0 < len(recs) < 100, len(recs))
        check([r["index"] for r in recs] == list(range(len(recs))))


@test
def body_files_are_named_by_index_only():
    with Server() as s, tempfile.TemporaryDirectory() as d:
        urls = [s.url("/bytes/7?name=../../etc/passwd"),
                s.url("/redirect/2")]
        rc, out, _ = run(["-q", "-o", d] + urls)
        check(rc == 0)
        check(sorted(os.listdir(d)) == ["0", "1"], os.listdir(d))
        with open(os.path.join(d, "1")) as f:
            check(f.read() == "done\n")


@test
def body_files_never_follow_a_link_out_of_their_directory():
    with Server() as s, tempfile.TemporaryDirectory() as d:
        out, victim = os.path.join(d, "out"), os.path.join(d, "victim")
        os.mkdir(out)
        with open(victim, "w") as f:
            f.write("precious")
        os.symlink(victim, os.path.join(out, "0"))  # planted by another user
        os.symlink(victim, os.path.join(out, "1"))
        os.link(victim, os.path.join(out, "2"))     # a hard link too
        rc, o, err = run(["-q", "-o", out, s.url("/bytes/10"),
                          "http://127.0.0.1:1/", s.url("/bytes/10?i=2"),
                          s.url("/bytes/10?i=3")])
        check(rc == 1, err)
        with open(victim) as f:
            check(f.read() == "precious", "the file outside was written")
        check(os.path.islink(os.path.join(out, "0")) and
              os.path.islink(os.path.join(out, "1")), "a link was removed")
        recs = records(o)
        for r, why in zip(recs, ["symbolic link", "symbolic link",
                                 "other hard links"]):
            check(not r["ok"] and why in r["message"] and r["file"] is None,
                  r)
        check(recs[3]["ok"] and os.path.getsize(recs[3]["file"]) == 10)


@test
def a_fifo_among_body_files_gets_an_error_record_and_the_run_goes_on():
    with Server() as s, tempfile.TemporaryDirectory() as d:
        os.mkfifo(os.path.join(d, "0"))
        rc, o, err = run(["-q", "-o", d, s.url("/bytes/10"),
                          s.url("/bytes/10?i=1")], timeout=30)
        check(rc == 1, err)
        recs = records(o)
        check("not a regular file" in recs[0]["message"], recs[0])
        check(recs[1]["ok"] and recs[1]["file"], recs[1])


@test
def headers_user_agent_and_compression_are_sent():
    with Server() as s, tempfile.TemporaryDirectory() as d:
        rc, _, err = run(["-q", "-o", d, "-H", "X-Probe: 7", "-A", "probe/2",
                          "-H", "X-Empty;", "--compressed", s.url("/headers")])
        check(rc == 0, err)
        with open(os.path.join(d, "0"), newline="") as f:
            sent = f.read()
        check("X-Probe: 7\r\n" in sent, sent)
        check("X-Empty:" in sent, sent)  # curl's "Name;": an empty value
        for bad in ["X-Bad;y", "X Bad: v", "X-Bad : v", ": v", ";"]:
            rc, _, err = run(["-q", "-H", bad, s.url("/headers")])
            check(rc == 2 and "is not 'Name: value'" in err, (bad, err))
        check("User-Agent: probe/2\r\n" in sent, sent)
        check("Accept-Encoding: " in sent, sent)


@test
def retry_records_attempts_and_history():
    with Server() as s, tempfile.TemporaryDirectory() as d:
        urls = [s.url("/flaky/2?i=1"), s.url("/status/503"),
                s.url("/status/404")]
        rc, out, err = run(["-q", "--retry", "2", "--retry-delay", "0.01",
                            "-o", d] + urls)
        check(rc == 1, err)
        recs = records(out)
        check(recs[0]["ok"] and recs[0]["attempts"] == 3, recs[0])
        check(recs[0]["history"] == ["http 503", "http 503"], recs[0])
        with open(os.path.join(d, "0")) as f:
            check(f.read() == "ok\n")  # the last attempt's body only
        check(recs[1]["error"] == "http" and recs[1]["attempts"] == 3)
        check(recs[2]["attempts"] == 1 and recs[2]["history"] == [])


@test
def bad_input_lines_get_records_and_valid_json():
    with Server() as s:
        path = tempfile.NamedTemporaryFile(suffix=".txt", delete=False).name
        with open(path, "wb") as f:
            f.write(b"http://127.0.0.1:%d/bytes/1\n" % s.port)
            f.write(b"http://x/" + b"a" * 70000 + b"\n")      # over 64 KiB
            f.write(b"http://127.0.0.1/\x00nul\n")              # a NUL byte
            f.write(b"http://127.0.0.1:1/\xff\xfe bad utf-8\n")  # not UTF-8
            f.write(b"http://127.0.0.1:%d/bytes/2\n" % s.port)
        rc, out, _ = run(["-q", "-i", path])
        check(rc == 1)
        recs = records(out)  # json.loads fails on invalid JSON
        check([r["index"] for r in recs] == [0, 1, 2, 3, 4])
        check(recs[0]["ok"] and recs[4]["ok"] and recs[4]["bytes"] == 2)
        for r, line in zip(recs[1:4], (2, 3, 4)):
            check(r["error"] == "invalid_url", r)
            check("line %d" % line in r["message"], r["message"])


@test
def a_byte_order_mark_at_the_start_of_the_input_is_ignored():
    with Server() as s:
        bom = "\ufeff"
        inp = write_input([bom + s.url("/bytes/1") + "\n"])
        rc, out, err = run(["-q", "-i", inp])
        check(rc == 0 and records(out)[0]["ok"], out)
        # as `xargs uvfetch < urls.txt` passes it on
        rc, out, err = run(["-q", bom + s.url("/bytes/2"), "-i", inp])
        check(rc == 0, out)
        check([r["bytes"] for r in records(out)] == [2, 1], out)


@test
def empty_input_gives_no_records_and_exit_0():
    inp = write_input([])
    rc, out, err = run(["-q", "-i", inp])
    check(rc == 0 and out == "", (rc, out, err))


@test
def unwritable_output_dir_is_a_usage_error():
    with tempfile.TemporaryDirectory() as d:
        blocker = os.path.join(d, "file")
        open(blocker, "w").close()
        rc, out, err = run(["-q", "-o", os.path.join(blocker, "sub"),
                            "http://127.0.0.1:1/"])
        check(rc == 2 and out == "" and "sub" in err, (rc, err))


@test
def parallelism_is_lowered_to_the_open_file_limit():
    with Server() as s:
        urls = [s.url("/bytes/1?i=%d" % i) for i in range(30)]
        p = subprocess.run(
            ["sh", "-c", 'ulimit -n 200 && exec "$0" "$@"', UVFETCH, "-q",
             "-j", "5000"] + urls, capture_output=True, timeout=60)
        err = p.stderr.decode()
        check(p.returncode == 0, err)
        # 200 - 50 (a quarter in reserve) - 64 (a lookup holds 2 fds)
        check("lowered to 86" in err, err)
        check(len(records(p.stdout.decode())) == 30)
        # A tiny limit still leaves room for what a run opens first.
        with tempfile.TemporaryDirectory() as d:
            p = subprocess.run(
                ["sh", "-c", 'ulimit -n 20 && exec "$0" "$@"', UVFETCH, "-q",
                 "-j", "100", "-o", d] + urls, capture_output=True,
                timeout=60)
        check(p.returncode == 0, p.stderr)
        check(len(records(p.stdout.decode())) == 30)


@test
def rate_limits_requests_per_host():
    with Server() as s:
        urls = [s.url("/bytes/1?i=%d" % i) for i in range(6)]
        t0 = time.time()
        rc, out, _ = run(["-q", "-j", "10", "--rate", "10"] + urls)
        took = time.time() - t0
        check(rc == 0 and len(records(out)) == 6)
        check(0.45 <= took <= 2.5, "6 requests at 10/s took %.3f s" % took)


@test
def rate_applies_to_a_host_whatever_the_case_of_its_name():
    with Server() as s:
        urls = [s.url("/bytes/1?i=%d" % i, h) for i, h in
                enumerate(["localhost", "LOCALHOST", "LocalHost", "lOcAlHoSt"])]
        t0 = time.time()
        rc, out, err = run(["-q", "-j", "10", "--rate", "10"] + urls)
        took = time.time() - t0
        check(rc == 0 and len(records(out)) == 4, err)
        check(took >= 0.28, "4 requests to one host at 10/s took %.3f s" % took)


@test
def rate_too_small_to_mean_anything_is_refused():
    for bad in ["5e-14", "1e-300", "-1", "nan", "2e6"]:
        rc, out, err = run(["-q", "--rate", bad, "http://127.0.0.1:1/"])
        check(rc == 2 and "--rate" in err and out == "", (bad, rc, err))
    rc, _, err = run(["--rate", "0.0009", "http://127.0.0.1:1/"])
    check(rc == 2 and "is not 0 or a rate" in err, err)
    rc, _, err = run(["-q", "--rate", "0.001", "--max-redirs", "-2",
                      "http://127.0.0.1:1/"])
    check(rc == 2 and "--max-redirs" in err, err)  # --rate 0.001 was fine


@test
def body_past_max_body_is_kept_up_to_the_limit():
    # 8 KiB on the wire, 8 MiB decoded: no Content-Length says it is too
    # large; it grows past the limit in its first decoded block.
    with Server() as s, tempfile.TemporaryDirectory() as d:
        rc, out, err = run(["-q", "--compressed", "--max-body", "10000", "-o",
                            d, s.url("/gzip-bomb")])
        check(rc == 1, err)
        r = records(out)[0]
        check(r["error"] == "too_large" and r["bytes"] == 10000, r)
        check(os.path.getsize(r["file"]) == 10000, os.path.getsize(r["file"]))


@test
def max_body_beyond_what_libcurl_takes_is_refused():
    for bad in ["9223372036854775808", "8589934592G", "18446744073709551615"]:
        rc, out, err = run(["-q", "--max-body", bad, "http://127.0.0.1:1/"])
        check(rc == 2 and "--max-body" in err and out == "", (bad, rc, err))
    with Server() as s:
        rc, out, err = run(["-q", "--max-body", "9223372036854775807",
                            s.url("/bytes/10")])
        check(rc == 0 and records(out)[0]["bytes"] == 10, (rc, out, err))


@test
def low_speed_ends_a_trickling_transfer():
    with Server() as s:
        t0 = time.time()
        rc, out, _ = run(["-q", "--low-speed", "100", "--low-speed-time",
                          "1", s.url("/trickle?bytes=60")])
        check(rc == 1 and time.time() - t0 < 10)
        check(records(out)[0]["error"] == "timeout")
        # Alone, --low-speed-time does nothing, and says so.
        rc, out, err = run(["-q", "--low-speed-time", "1", s.url("/bytes/1")])
        check(rc == 0 and "no effect without --low-speed" in err, err)


@test
def sigint_writes_started_records_and_exits_130():
    with Server() as s:
        urls = "".join(s.url("/delay/5000?i=%d" % i) + "\n"
                       for i in range(50))
        inp = write_input([urls])
        p = subprocess.Popen([UVFETCH, "-j", "10", "--grace", "0", "-i", inp],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        wait_in_flight(s, 10)
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=20)
        check(p.returncode == 130, "exit %d: %s" % (p.returncode, err))
        recs = records(out.decode())
        check(len(recs) == 10, "%d records" % len(recs))
        check([r["index"] for r in recs] == list(range(10)))
        check(all(r["error"] == "aborted" for r in recs))
        check("interrupted; 40 input URLs not started" in err.decode(),
              err.decode())


@test
def sighup_is_treated_as_sigterm():
    with Server() as s:
        inp = write_input(s.url("/delay/1000?i=%d" % i) + "\n"
                          for i in range(30))
        p = subprocess.Popen([UVFETCH, "-j", "10", "--grace", "20", "-i", inp],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        wait_in_flight(s, 10)
        p.send_signal(signal.SIGHUP)
        out, err = p.communicate(timeout=30)
        err = err.decode()
        check(p.returncode == 130, "exit %d: %s" % (p.returncode, err))
        recs = records(out.decode())
        check([r["index"] for r in recs] == list(range(10)), out)
        check(all(r["ok"] for r in recs), "in-flight transfers were cut")
        check("20 input URLs not started" in err, err)


@test
def a_closed_terminal_lets_transfers_in_flight_finish_into_the_journal():
    with Server() as s, tempfile.TemporaryDirectory() as d:
        inp = write_input(s.url("/delay/1000?i=%d" % i) + "\n"
                          for i in range(30))
        journal = os.path.join(d, "journal")
        master, slave = os.openpty()

        def on_the_terminal():  # after setsid(): it becomes ours
            fcntl.ioctl(1, termios.TIOCSCTTY, 0)

        p = subprocess.Popen([UVFETCH, "-j", "10", "--grace", "20", "-i", inp,
                              "--journal", journal], stdin=subprocess.DEVNULL,
                             stdout=slave, stderr=slave,
                             start_new_session=True,
                             preexec_fn=on_the_terminal)
        os.close(slave)
        reader = threading.Thread(target=drain_fd, args=(master,))
        reader.start()
        try:
            wait_in_flight(s, 10)
            os.close(master)  # the terminal goes away: SIGHUP, then EIO
            reader.join()
            rc = p.wait(timeout=30)
        finally:
            p.kill()
        check(rc == 130, "exit %d" % rc)
        with open(journal) as f:
            journaled = len(f.readlines()) - 1
        check(journaled == 10, "%d records journaled" % journaled)


def drain_fd(fd):
    try:
        while os.read(fd, 65536):
            pass
    except OSError:
        pass


@test
def urls_waiting_for_their_rate_count_as_not_started():
    with Server() as s:
        urls = [s.url("/bytes/1?i=%d" % i) for i in range(3)]
        p = subprocess.Popen([UVFETCH, "--rate", "0.2", "--grace", "0"] + urls,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.time() + 10
        while s.stats()["requests"] < 1 and time.time() < deadline:
            time.sleep(0.05)
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=30)
        err = err.decode()
        check(p.returncode == 130, err)
        recs = records(out.decode())
        check([r["attempts"] for r in recs] == [1, 0, 0], out)
        check("2 input URLs not started" in err, err)


def wait_in_flight(s, n, limit=10):
    """Waits until the server has n requests in flight; fails the test if
    that does not happen within limit seconds."""
    deadline = time.time() + limit
    while s.stats()["in_flight"] < n:
        check(time.time() < deadline,
              "%d requests never were in flight" % n)
        time.sleep(0.05)


@test
def sigint_lets_transfers_in_flight_finish_within_grace():
    with Server() as s:
        inp = write_input(s.url("/delay/1000?i=%d" % i) + "\n"
                          for i in range(30))
        p = subprocess.Popen([UVFETCH, "-j", "10", "--grace", "20", "-i", inp],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        wait_in_flight(s, 10)
        t0 = time.time()
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=30)
        err = err.decode()
        check(p.returncode == 130, "exit %d: %s" % (p.returncode, err))
        recs = records(out.decode())
        check([r["index"] for r in recs] == list(range(10)), out)
        check(all(r["ok"] for r in recs), "in-flight transfers were cut")
        check(time.time() - t0 < 10, "waited for the whole grace period")
        check("20 input URLs not started" in err, err)
        check(s.stats()["requests"] == 10, "new transfers started")


@test
def second_signal_exits_at_once_and_says_so():
    with Server() as s:
        inp = write_input(s.url("/delay/5000?i=%d" % i) + "\n"
                          for i in range(20))
        p = subprocess.Popen([UVFETCH, "-j", "10", "-i", inp],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        wait_in_flight(s, 10)
        t0 = time.time()
        p.send_signal(signal.SIGINT)
        time.sleep(0.2)
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=30)
        err = err.decode()
        check(p.returncode == 130, "exit %d: %s" % (p.returncode, err))
        check(time.time() - t0 < 3, "the grace period was waited out")
        check("quitting at once" in err, err)
        check("may finish within 5 s" in err, err)  # the default grace


@test
def progress_line_counts_down_the_grace_period():
    with Server() as s:
        inp = write_input(s.url("/delay/20000?i=%d" % i) + "\n"
                          for i in range(10))
        p = subprocess.Popen([UVFETCH, "-j", "10", "--grace", "1.5",
                              "--progress", "-i", inp],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        wait_in_flight(s, 10)
        t0 = time.time()
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=30)
        took = time.time() - t0
        err = err.decode()
        check(p.returncode == 130, err)
        left = [float(x) for x in
                re.findall(r"10 in flight, [^\r]*stopping in (\d+\.\d) s", err)]
        check(left, err)
        check(max(left) <= 1.5, "counting down from %.1f s" % max(left))
        check(1.3 <= took <= 3.5, "a grace of 1.5 s took %.2f s" % took)


def mixed_urls(s, n, seed):
    """n URLs of every outcome, quick ones, some slow enough to be caught
    in flight."""
    rnd = random.Random(seed)
    urls = []
    for i in range(n):
        r = rnd.random()
        if r < 0.04:
            urls.append(s.url("/status/404?i=%d" % i))
        elif r < 0.06:
            urls.append("not a url %d" % i)
        elif r < 0.08:
            urls.append("http://127.0.0.1:1/refused?i=%d" % i)
        elif r < 0.09:
            urls.append(s.url("/delay/300?i=%d" % i))
        else:
            urls.append(s.url("/delay/%d?bytes=%d&i=%d" % (
                rnd.randrange(20), rnd.randrange(3000), i)))
    return urls


def untimed(out):
    """The report without what depends on timing."""
    out = re.sub(r',"time_total":[0-9.]+', "", out)
    return re.sub(r"after \d+ ms", "after - ms", out)


def kill_at(args, delay, sigs):
    """Starts a run, sends sigs (a list of signals) after delay seconds."""
    p = subprocess.Popen([UVFETCH] + args, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE)
    time.sleep(delay)
    for sig in sigs:
        if p.poll() is None:
            p.send_signal(sig)
            time.sleep(0.01)
    p.communicate(timeout=60)
    return p.returncode


def left(journal, n=5000):
    """The share of n URLs a journal does not have yet."""
    try:
        done = sum(1 for _ in open(journal, "rb")) - 1
    except OSError:
        done = 0
    return max(0.05, 1 - done / n)


@test
def journal_resume_after_kills_gives_the_uninterrupted_report():
    rnd = random.Random(11)
    with Server() as s, tempfile.TemporaryDirectory() as d:
        urls = mixed_urls(s, 5000, 5)
        inp = write_input(u + "\n" for u in urls)
        args = ["-j", "100", "-q", "-i", inp]
        t0 = time.time()
        ref_rc, ref, err = run(args)
        wall = time.time() - t0
        check(ref_rc == 1, "exit %d: %s" % (ref_rc, err))
        per_run = s.stats()["requests"]
        journal = os.path.join(d, "journal")
        # kill -9; SIGTERM with a grace period (transfers finish); Ctrl-C
        # without one (transfers are aborted); Ctrl-C twice.
        kinds = [([], [signal.SIGKILL]), ([], [signal.SIGTERM]),
                 (["--grace", "0"], [signal.SIGINT]),
                 ([], [signal.SIGINT, signal.SIGINT])]
        kills = 0
        s_before = s.stats()["requests"]
        for attempt in range(12):
            extra, sigs = kinds[attempt % len(kinds)]
            rc = kill_at(args + extra + ["--journal", journal],
                         rnd.uniform(0.01, 0.5) * wall * left(journal), sigs)
            if rc in (-signal.SIGKILL, -signal.SIGINT, -signal.SIGTERM, 130):
                kills += 1
        rc, out, err = run(args + ["--journal", journal])
        check(rc == ref_rc, "exit %d: %s" % (rc, err))
        check(untimed(out) == untimed(ref), "the resumed report differs")
        check(kills >= 8, "only %d runs were cut short" % kills)
        # URLs finished before a kill were not fetched again; only those
        # in flight at a kill (at most -j of them) could be.
        fetched = s.stats()["requests"] - s_before
        check(fetched <= per_run + kills * 100,
              "%d requests for %d URLs and %d kills" %
              (fetched, per_run, kills))


@test
def journal_replays_every_record_with_order_done():
    with Server() as s, tempfile.TemporaryDirectory() as d:
        n = 10000  # more than one batch of replayed records
        inp = write_input(s.url("/bytes/1?i=%d" % i) + "\n" for i in range(n))
        journal = os.path.join(d, "journal")
        rc, ref, err = run(["-q", "-j", "100", "-i", inp, "--journal", journal])
        check(rc == 0, err)
        before = s.stats()["requests"]
        rc, out, err = run(["--no-progress", "--order", "done", "-i", inp,
                            "--journal", journal])
        check(rc == 0, err)
        check(s.stats()["requests"] == before, "URLs fetched again")
        check("resuming: 10000 URLs done by an earlier run" in err, err)
        check("10000 from the journal" in err, err)
        recs = records(out)
        check(sorted(r["index"] for r in recs) == list(range(n)))
        check(sorted(untimed(out).splitlines()) ==
              sorted(untimed(ref).splitlines()))


@test
def journal_for_another_input_is_refused():
    with Server() as s, tempfile.TemporaryDirectory() as d:
        urls = [s.url("/bytes/10?i=%d" % i) for i in range(50)]
        journal = os.path.join(d, "journal")
        first = write_input(u + "\n" for u in urls)
        rc, ref, _ = run(["-q", "-i", first, "--journal", journal])
        check(rc == 0)
        size = os.path.getsize(journal)
        requests = s.stats()["requests"]
        cases = {
            "reordered": urls[1:] + urls[:1],
            "another": [s.url("/bytes/20?i=%d" % i) for i in range(50)],
            "shorter": urls[:40],
        }
        for name, lines in cases.items():
            inp = write_input(u + "\n" for u in lines)
            rc, out, err = run(["-q", "-i", inp, "--journal", journal])
            check(rc == 2, "%s: exit %d" % (name, rc))
            check("does not match the input" in err, "%s: %s" % (name, err))
            check(out == "", "%s: records were written" % name)
        # As a pipe the input is checked as it is read.
        rc, out, err = run(["-q", "-i", "-", "--journal", journal],
                           stdin="".join(u + "\n" for u in cases["another"])
                           .encode())
        check(rc == 2 and "does not match the input" in err, err)
        check(s.stats()["requests"] == requests, "refused, yet fetched")
        check(os.path.getsize(journal) == size, "the journal was changed")
        rc, out, _ = run(["-q", "-i", first, "--journal", journal])
        check(rc == 0 and out == ref, "the journal no longer resumes")
        # The same URLs as arguments are the same input.
        rc, out, err = run(["-q", "--journal", journal] + urls)
        check(rc == 0 and out == ref, err)
        rc, _, err = run(["-q", "-i", first, "--journal", first])
        check(rc == 2 and "not a uvfetch journal" in err, err)


@test
def journal_resumes_only_with_the_same_output_dir():
    with Server() as s, tempfile.TemporaryDirectory() as d:
        inp = write_input(s.url("/bytes/10?i=%d" % i) + "\n"
                          for i in range(10))
        journal, first = os.path.join(d, "journal"), os.path.join(d, "b1")
        rc, ref, _ = run(["-q", "-i", inp, "-o", first, "--journal", journal])
        check(rc == 0)
        for other in (["-o", os.path.join(d, "b2")], []):
            rc, out, err = run(["-q", "-i", inp, "--journal", journal] + other)
            check(rc == 2 and "another -o" in err, "%s: %s" % (other, err))
            check(out == "", out)
        rc, out, err = run(["-q", "-i", inp, "-o", first, "--journal", journal])
        check(rc == 0 and out == ref, err)


@test
def a_resume_with_another_output_dir_is_refused_before_anything_is_made():
    with Server() as s, tempfile.TemporaryDirectory() as d:
        # The first record names no file (an invalid URL): the next does.
        inp = write_input(["not a url\n"] +
                          [s.url("/bytes/10?i=%d" % i) + "\n"
                           for i in range(5)])
        journal, first = os.path.join(d, "journal"), os.path.join(d, "b1")
        rc, _, err = run(["-q", "-i", inp, "-o", first, "--journal", journal])
        check(rc == 1, err)
        other = os.path.join(d, "b2")
        for args in (["-o", other], []):
            rc, out, err = run(["--no-progress", "-i", inp, "--journal",
                                journal] + args)
            check(rc == 2 and "another -o" in err, (args, err))
            check("resuming" not in err and out == "", (args, err))
        check(not os.path.exists(other), "the other -o was made")


@test
def journal_drops_a_record_cut_short_or_damaged():
    with Server() as s, tempfile.TemporaryDirectory() as d:
        inp = write_input(s.url("/bytes/10?i=%d" % i) + "\n"
                          for i in range(20))
        journal = os.path.join(d, "journal")
        rc, ref, _ = run(["-q", "-i", inp, "--journal", journal])
        check(rc == 0)
        data = open(journal, "rb").read()
        open(journal, "wb").write(data[:-30])  # the last record, torn
        before = s.stats()["requests"]
        rc, out, err = run(["-q", "-i", inp, "--journal", journal])
        check(rc == 0, err)
        check("dropping" in err, err)
        check(untimed(out) == untimed(ref))
        check(s.stats()["requests"] - before == 1, "not only the torn one")
        # The repaired journal is complete again: nothing left to fetch.
        rc, out, err = run(["-q", "-i", inp, "--journal", journal])
        check(rc == 0 and err == "" and untimed(out) == untimed(ref), err)
        check(s.stats()["requests"] - before == 1)
        # A damaged line in the middle costs only its own record.
        lines = open(journal, "rb").read().split(b"\n")
        lines[5] = lines[5].replace(b'"ok":true', b'"ok":trUe')
        open(journal, "wb").write(b"\n".join(lines))
        rc, out, err = run(["-q", "-i", inp, "--journal", journal])
        check(rc == 0 and "skipping 1 damaged record" in err, err)
        check(untimed(out) == untimed(ref))
        check(s.stats()["requests"] - before == 2, "not only the damaged one")


def small_files(limit):
    """For a child: files larger than limit fail to grow (EFBIG)."""
    def apply():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    return apply


def check_stopped_by_journal(p, n):
    err = p.stderr.decode()
    check(p.returncode == 3, "exit %d: %s" % (p.returncode, err))
    check("cannot write the journal" in err, err)
    m = re.search(r"stopped by the error above; (\d+) input URLs? not "
                  r"started", err)
    check(m and int(m.group(1)) > 0, err)
    recs = records(p.stdout.decode())
    check(len(recs) + int(m.group(1)) == n, (len(recs), err))


@test
def a_journal_write_error_stops_the_run_with_status_3_and_says_what_is_left():
    with Server() as s, tempfile.TemporaryDirectory() as d:
        inp = write_input(s.url("/delay/20?i=%d" % i) + "\n"
                          for i in range(200))
        p = subprocess.run([UVFETCH, "-j", "4", "-i", inp, "--journal",
                            os.path.join(d, "journal")], capture_output=True,
                           timeout=60, preexec_fn=small_files(4096))
        check_stopped_by_journal(p, 200)


@test
def a_journal_on_a_full_disk_stops_the_run_with_status_3():
    with Server() as s, tempfile.TemporaryDirectory() as d:
        disk = os.path.join(d, "disk")
        os.mkdir(disk)
        if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs",
                           disk], capture_output=True).returncode != 0:
            print("skipped: cannot mount a small tmpfs here (not root?); "
                  "a_journal_write_error_stops_the_run_with_status_3_and_"
                  "says_what_is_left covers the same path")
            sys.exit(77)
        try:
            inp = write_input(s.url("/delay/20?i=%d" % i) + "\n"
                              for i in range(2000))
            p = subprocess.run([UVFETCH, "-j", "4", "-i", inp, "--journal",
                                os.path.join(disk, "journal")],
                               capture_output=True, timeout=120)
            check("No space left on device" in p.stderr.decode(), p.stderr)
            check_stopped_by_journal(p, 2000)
        finally:
            subprocess.run(["umount", disk])


@test
def a_journal_or_report_that_would_be_a_body_file_is_refused():
    with Server() as s, tempfile.TemporaryDirectory() as d:
        url = s.url("/bytes/10")
        rc, out, err = run(["-q", "-o", d, "--journal",
                            os.path.join(d, "0"), url])
        check(rc == 2 and "another name or place" in err, (rc, err))
        check(os.listdir(d) == [] and out == "", os.listdir(d))
        with open(os.path.join(d, "3"), "w") as report:
            p = subprocess.run([UVFETCH, "-q", "-o", d, url], stdout=report,
                               stderr=subprocess.PIPE, timeout=60)
        check(p.returncode == 2 and b"standard output" in p.stderr, p.stderr)
        check(s.stats()["requests"] == 0, "fetched anyway")
        # Under another name, linked to DIR/1: the body file is refused.
        journal = os.path.join(d, "journal")
        rc, _, err = run(["-q", "-o", d, "--journal", journal, "-i",
                          write_input([])])
        check(rc == 0, err)
        os.link(journal, os.path.join(d, "1"))
        rc, out, err = run(["-q", "-o", d, "--journal", journal,
                            s.url("/bytes/3?i=0"), s.url("/bytes/3?i=1")])
        recs = records(out)
        check(rc == 1 and recs[0]["ok"], (rc, err))
        check("it is the journal" in recs[1]["message"], recs[1])
        with open(journal) as f:
            lines = f.read().splitlines()
        check(lines[0] == "uvfetch-journal 1" and len(lines) == 2, lines)


@test
def slow_first_url_pauses_admission_once_8_mib_of_records_wait():
    pad = "p" * 2000  # records of about 4 KiB: url and final_url
    with Server() as s:
        urls = [s.url("/delay/3000?first")] + [
            s.url("/bytes/1?i=%d&pad=%s" % (i, pad)) for i in range(20000)]
        inp = write_input(u + "\n" for u in urls)
        p = subprocess.Popen([UVFETCH, "-q", "-j", "50", "-i", inp],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        time.sleep(2)  # the first URL is still in flight
        started = s.stats()["requests"]
        out, err = p.communicate(timeout=120)
        check(p.returncode == 0, err.decode())
        # 8 MiB of 4 KiB records, plus the transfers in flight.
        check(started <= 8 * 1024 / 4 + 50 + 100,
              "%d URLs started behind the slow one" % started)
        recs = records(out.decode())
        check([r["index"] for r in recs] == list(range(len(urls))))


@test
def help_matches_the_man_page():
    rc, out, _ = run(["--help"])
    check(rc == 0)
    opts = set(re.findall(r"--[a-z][a-z-]+", out))
    check(len(opts) >= 15, opts)
    man = open(os.environ["UVF_MANPAGE"]).read().replace("\\-", "-")
    missing = [o for o in opts if o not in man]
    check(not missing, "not in the man page: %s" % missing)
    rc, out, _ = run(["--version"])
    check(rc == 0 and re.search(r"\d+\.\d+\.\d+", out))


# ---- signals, grace, journal syncs, limits, input ----

def start_held(s, n, j, extra=(), path="/delay/20000", more=""):
    """Starts a run of n slow URLs at -j j and waits until j are in flight
    at the server. Returns the process."""
    inp = write_input([s.url("%s?i=%d" % (path, i)) + "\n" for i in range(n)]
                      + [more])
    p = subprocess.Popen([UVFETCH, "-j", str(j), "-i", inp] + list(extra),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    wait_in_flight(s, j)
    return p


@test
def sigterm_writes_started_records_and_exits_130():
    with Server() as s:
        # Comments and blank lines among the rest are not URLs.
        p = start_held(s, 50, 10, ["--grace", "0"],
                       more="# a comment\n\n   \n# another\n")
        p.send_signal(signal.SIGTERM)
        out, err = p.communicate(timeout=20)
        err = err.decode()
        check(p.returncode == 130, "exit %d: %s" % (p.returncode, err))
        recs = records(out.decode())
        check([r["index"] for r in recs] == list(range(10)), out)
        check(all(r["error"] == "aborted" for r in recs), out)
        check("interrupted; 40 input URLs not started" in err, err)


@test
def grace_period_lasts_as_long_as_grace():
    with Server() as s:
        p = start_held(s, 12, 10, ["--grace", "2", "--progress"],
                       more="# not a URL\n\n")
        time.sleep(0.4)  # a progress line with the total before the signal
        t0 = time.time()
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=30)
        took = time.time() - t0
        err = err.decode()
        check(p.returncode == 130, "exit %d: %s" % (p.returncode, err))
        check(1.8 <= took <= 3.5, "a grace of 2 s took %.2f s" % took)
        check("may finish within 2 s" in err, err)
        check(re.search(r"\r0/12 done", err), err)  # comments not counted
        recs = records(out.decode())
        check([r["index"] for r in recs] == list(range(10)), out)
        check(all(r["error"] == "aborted" for r in recs), out)
        check(s.stats()["requests"] == 10, "new transfers started")


def count_syscalls(trace):
    with open(trace) as f:
        return sum(1 for line in f if "fdatasync(" in line)


@test
def journal_syncs_in_batches_while_records_come():
    # A record every 20 ms or so for about 2 s: the journal is synced at
    # most every 200 ms (and once at the end), never per record, and it
    # does sync during the run.
    with Server() as s, tempfile.TemporaryDirectory() as d:
        inp = write_input(s.url("/delay/20?i=%d" % i) + "\n"
                          for i in range(100))
        journal, trace = os.path.join(d, "journal"), os.path.join(d, "trace")
        env = dict(os.environ, ASAN_OPTIONS="detect_leaks=0")  # no ptrace
        t0 = time.time()
        p = subprocess.run(["strace", "-f", "--seccomp-bpf", "-e",
                            "trace=fdatasync", "-o", trace, UVFETCH, "-q",
                            "-j", "1", "-i", inp, "--journal", journal],
                           capture_output=True, timeout=60, env=env)
        took = time.time() - t0
        check(p.returncode == 0, p.stderr.decode())
        check(len(records(p.stdout.decode())) == 100)
        syncs = count_syscalls(trace)
        most = int(took / 0.2) + 2
        check(4 <= syncs <= most, "%d syncs in %.2f s (at most %d)" %
              (syncs, took, most))


@test
def max_body_is_a_limit_inclusive_with_suffixes():
    with Server() as s:
        cases = [("1k", 1024, True), ("1k", 1025, False),
                 ("1M", 1 << 20, True), ("1M", (1 << 20) + 1, False),
                 ("1048576", 1 << 20, True), ("1G", 3 << 20, True)]
        for limit, size, fits in cases:
            rc, out, err = run(["-q", "--max-body", limit,
                                s.url("/bytes/%d" % size)])
            r = records(out)[0]
            if fits:
                check(rc == 0 and r["ok"] and r["bytes"] == size,
                      "%d bytes at --max-body %s: %s" % (size, limit, r))
            else:
                check(rc == 1 and r["error"] == "too_large",
                      "%d bytes at --max-body %s: %s" % (size, limit, r))


@test
def overlong_comment_lines_are_skipped():
    with Server() as s:
        path = tempfile.NamedTemporaryFile(suffix=".txt", delete=False).name
        with open(path, "wb") as f:
            f.write(b"#" + b"c" * 70000 + b"\n")           # line 1
            f.write(s.url("/bytes/1").encode() + b"\n")   # line 2
            f.write(b"   # " + b"c" * 70000 + b"\n")       # line 3
            f.write(b"http://x/" + b"a" * 70000 + b"\n")  # line 4
            f.write(s.url("/bytes/2").encode() + b"\n")   # line 5
            f.write(b"#" + b"c" * 70000)                  # line 6, no newline
        rc, out, err = run(["-q", "-i", path])
        recs = records(out)
        check([r["index"] for r in recs] == [0, 1, 2], out[:300])
        check(recs[0]["ok"] and recs[0]["bytes"] == 1, recs[0])
        check(recs[1]["error"] == "invalid_url" and
              "line 4" in recs[1]["message"], recs[1]["message"])
        check(recs[2]["ok"] and recs[2]["bytes"] == 2, recs[2])
        check(rc == 1, "exit %d" % rc)


@test
def input_bom_crlf_and_a_last_line_without_newline():
    with Server() as s:
        path = tempfile.NamedTemporaryFile(suffix=".txt", delete=False).name
        with open(path, "wb") as f:
            f.write(b"\xef\xbb\xbf" + s.url("/bytes/1").encode() + b"\r\n")
            f.write(b"\t" + s.url("/bytes/2").encode() + b" \r\n")
            f.write(s.url("/bytes/3").encode())
        rc, out, err = run(["-q", "-i", path])
        check(rc == 0, err)
        check([r["bytes"] for r in records(out)] == [1, 2, 3], out)


def read_line(f, limit):
    """One line from the unbuffered pipe f; fails after limit seconds."""
    deadline = time.time() + limit
    line = b""
    while not line.endswith(b"\n"):
        ready, _, _ = select.select([f], [], [],
                                    max(0, deadline - time.time()))
        check(ready, "no line within %d s (got %r)" % (limit, line))
        byte = os.read(f.fileno(), 1)  # nothing left in a buffer
        check(byte, "output ended (got %r)" % line)
        line += byte
    return line


@test
def urls_from_a_pipe_are_fetched_as_they_arrive():
    with Server() as s:
        p = subprocess.Popen([UVFETCH, "-q", "-i", "-"], bufsize=0,
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
        for i in range(3):  # each record comes before the next line is sent
            p.stdin.write((s.url("/bytes/%d" % (i + 1)) + "\n").encode())
            line = read_line(p.stdout, 10)
            rec = json.loads(line)
            check(rec["index"] == i and rec["bytes"] == i + 1, line)
        p.stdin.close()
        rc = p.wait(timeout=20)
        rest, err = p.stdout.read(), p.stderr.read()
        check(rc == 0 and rest == b"", err)


@test
def summary_counts_urls_by_outcome():
    with Server() as s:
        urls = [s.url("/bytes/10"), s.url("/status/404?bytes=4"),
                s.url("/bytes/5"),
                "http://127.0.0.1:1/", "nope"]
        rc, out, err = run(["--no-progress"] + urls)
        check(rc == 1)
        check("5 URLs: 2 ok, 3 failed (invalid_url 1, connect 1, http 1)"
              in err, err)
        check(re.search(r"s, [0-9.]+ requests/s, 19 bytes", err), err)


@test
def option_values_out_of_range_are_usage_errors():
    bad = [["-j", "0"], ["-j", "100001"], ["-j", "1.5"], ["--per-host", "-1"],
           ["--max-redirs", "-2"], ["--retry", "101"], ["--timeout", "-1"],
           ["--grace", "x"], ["--max-body", "1T"], ["--max-body", "-5"],
           ["--rate", "-1"], ["--rate", "1000001"], ["--max-lookups", "-1"],
           ["--order", "random"], ["--low-speed", "-1"], ["-i", ""],
           ["--retry-delay", "inf"]]
    for args in bad:
        rc, out, err = run(args + ["http://127.0.0.1:1/"])
        check(rc == 2 and out == "", "%s: exit %d" % (args, rc))
        check(args[0] in err, "%s: %s" % (args, err))
    with Server() as s:
        good = [["-j", "1"], ["-j", "100000"], ["--per-host", "0"],
                ["--retry", "100"], ["--max-redirs", "-1"],
                ["--timeout", "0"], ["--max-body", "0"], ["--rate", "0"]]
        for args in good:
            rc, out, err = run(["-q"] + args + [s.url("/bytes/1")])
            check(rc == 0 and len(records(out)) == 1, "%s: %s" % (args, err))


@test
def redirect_options_are_passed_on():
    with Server() as s:
        rc, out, _ = run(["-q", "--no-follow", s.url("/redirect/1")])
        r = records(out)[0]
        check(rc == 1 and r["status"] == 302 and r["error"] == "http", r)
        rc, out, _ = run(["-q", "--max-redirs", "2", s.url("/redirect/2")])
        check(rc == 0, out)
        rc, out, _ = run(["-q", "--max-redirs", "1", s.url("/redirect/2")])
        check(rc == 1 and records(out)[0]["error"] == "protocol", out)


@test
def time_options_are_in_seconds():
    with Server() as s:
        t0 = time.time()
        rc, out, _ = run(["-q", "--timeout", "0.3", s.url("/stall")])
        took = time.time() - t0
        check(records(out)[0]["error"] == "timeout", out)
        check(0.25 <= took <= 1.5, "--timeout 0.3 took %.2f s" % took)
        # A backoff of up to 1000 s, capped at 0.1 s a wait.
        t0 = time.time()
        rc, out, _ = run(["-q", "--retry", "2", "--retry-delay", "1000",
                          "--retry-max-delay", "0.1", s.url("/status/503")])
        took = time.time() - t0
        check(records(out)[0]["attempts"] == 3, out)
        check(took <= 2.5, "two waits of at most 0.1 s took %.2f s" % took)


@test
def body_files_are_kept_for_replies_only():
    with Server() as s, tempfile.TemporaryDirectory() as d:
        urls = [s.url("/status/404?bytes=7"), "http://127.0.0.1:1/",
                s.url("/status/204")]
        rc, out, _ = run(["-q", "-o", d] + urls)
        recs = records(out)
        check(recs[0]["file"] == os.path.join(d, "0"), recs[0])
        check(os.path.getsize(os.path.join(d, "0")) == 7)
        check(recs[1]["file"] is None, recs[1])  # no reply, no file
        check(recs[2]["file"] == os.path.join(d, "2"), recs[2])  # empty body
        check(sorted(os.listdir(d)) == ["0", "2"], os.listdir(d))


@test
def urls_round_trip_through_the_json_report():
    odd = ['http://127.0.0.1:1/a"b', "http://127.0.0.1:1/a\\b",
           "http://127.0.0.1:1/a\tb", "http://127.0.0.1:1/\u00e9\u4e2d",
           "http://127.0.0.1:1/a\x7fb", "http://127.0.0.1:1/a\x01b"]
    rc, out, err = run(["-q"] + odd)
    recs = records(out)
    check([r["url"] for r in recs] == odd, out)


@test
def lookups_count_in_the_open_file_budget():
    with Server() as s:
        urls = [s.url("/bytes/1?i=%d" % i) for i in range(3)]
        # limit - a reserve (a quarter, at most 128) - one per lookup slot
        for limit, lookups, want in ((200, "0", 150), (200, "10", 140),
                                     (1000, "0", 872), (1000, "100", 772)):
            p = subprocess.run(
                ["sh", "-c", 'ulimit -n %d && exec "$0" "$@"' % limit,
                 UVFETCH, "-q", "-j", "5000", "--max-lookups", lookups] +
                urls, capture_output=True, timeout=60)
            err = p.stderr.decode()
            check(p.returncode == 0, err)
            check("lowered to %d:" % want in err, (limit, lookups, err))


@test
def input_lines_up_to_65536_bytes_are_urls():
    path = tempfile.NamedTemporaryFile(suffix=".txt", delete=False).name
    base = b"http://127.0.0.1:1/"
    with open(path, "wb") as f:
        f.write(base + b"a" * (65536 - len(base)) + b"\n")  # the longest
        f.write(base + b"a" * (65537 - len(base)) + b"\n")  # one too long
        f.write(base + b"b" * (65536 - len(base)))           # last, no \n
    rc, out, err = run(["-q", "-i", path])
    recs = records(out)
    check([r["index"] for r in recs] == [0, 1, 2], out[:200])
    check(recs[0]["error"] == "connect", recs[0]["message"])
    check(recs[1]["error"] == "invalid_url" and
          "line 2: invalid URL: line longer than 65536 bytes" in
          recs[1]["message"], recs[1]["message"])
    check(recs[2]["error"] == "connect", recs[2]["message"])


@test
def invalid_utf8_in_urls_becomes_replacement_characters():
    path = tempfile.NamedTemporaryFile(suffix=".txt", delete=False).name
    with open(path, "wb") as f:
        f.write(b"http://127.0.0.1:1/\xed\xa0\x80s\n")  # a UTF-16 surrogate
        f.write(b"http://127.0.0.1:1/\xc0\xafo\n")      # an overlong '/'
        f.write(b"http://127.0.0.1:1/\xf4\x90\x80\x80x\n")  # past U+10FFFF
        f.write(b"http://127.0.0.1:1/\xe2\x82\xac\n")   # a valid euro sign
    rc, out, err = run(["-q", "-i", path])
    urls = [r["url"] for r in records(out)]  # strict UTF-8 decode, too
    check(urls == ["http://127.0.0.1:1/\ufffd\ufffd\ufffds",
                   "http://127.0.0.1:1/\ufffd\ufffdo",
                   "http://127.0.0.1:1/\ufffd\ufffd\ufffd\ufffdx",
                   "http://127.0.0.1:1/\u20ac"], urls)


@test
def header_and_agent_with_line_breaks_are_refused():
    for args in (["-H", "X-A: 1\r\nX-B: 2"], ["-H", "X-A: 1\nX-B: 2"],
                 ["-A", "a\r\nX-B: 2"], ["-A", "a\nb"]):
        rc, out, err = run(["-q"] + args + ["http://127.0.0.1:1/"])
        check(rc == 2 and out == "", "%r: exit %d" % (args, rc))


@test
def output_dir_and_its_missing_parents_are_created():
    with Server() as s, tempfile.TemporaryDirectory() as d:
        out_dir = os.path.join(d, "a", "b", "c") + "/"
        rc, out, err = run(["-q", "-o", out_dir, s.url("/bytes/3")])
        check(rc == 0, err)
        rec = records(out)[0]
        check(rec["file"] == os.path.join(d, "a", "b", "c", "0"), rec)
        check(os.path.getsize(rec["file"]) == 3)


@test
def tiny_timeouts_still_time_out():
    # 0.0001 s rounds to 0 ms, which would mean no limit at all.
    with Server() as s:
        rc, out, _ = run(["-q", "--timeout", "0.0001", s.url("/stall")],
                         timeout=20)
        check(records(out)[0]["error"] == "timeout", out)


class RetryAfterHandler(http.server.BaseHTTPRequestHandler):
    """429 with Retry-After: 1 for the first request of /busy, 200 for
    the rest; the time of every request is kept."""
    protocol_version = "HTTP/1.1"
    seen = []

    def do_GET(self):
        first = self.path.startswith("/busy") and not any(
            p == self.path for p, _ in self.seen)
        self.seen.append((self.path, time.time()))
        body = b"slow down\n" if first else b"ok\n"
        self.send_response(429 if first else 200)
        if first:
            self.send_header("Retry-After", "1")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a):
        pass

    def handle(self):
        try:
            super().handle()
        except ConnectionError:  # uvfetch resets idle connections at exit
            pass


@test
def a_429_with_retry_after_pauses_its_host():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                          RetryAfterHandler)
    th = threading.Thread(target=srv.serve_forever, daemon=True)
    th.start()
    try:
        base = "http://127.0.0.1:%d" % srv.server_address[1]
        t0 = time.time()
        rc, out, err = run(["-q", "-j", "1", "--retry", "1", "--retry-delay",
                            "0.001", base + "/busy", base + "/other"],
                           timeout=30)
        recs = records(out)
        check(rc == 0, "exit %d: %s" % (rc, out))
        check(recs[0]["attempts"] == 2 and recs[0]["history"] == ["http 429"],
              recs[0])
        seen = {p: t - t0 for p, t in RetryAfterHandler.seen}
        # Neither the retry nor the host's next URL came before the second
        # the server asked for.
        check(seen["/other"] >= 0.9, "the host was not paused: %s" % seen)
        check(len(RetryAfterHandler.seen) == 3, RetryAfterHandler.seen)
        check(RetryAfterHandler.seen[-1][1] - RetryAfterHandler.seen[0][1]
              >= 0.9, RetryAfterHandler.seen)
    finally:
        srv.shutdown()
        srv.server_close()


@test
def proxies_come_from_the_environment_and_no_proxy_is_honoured():
    # The test server stands in for a proxy: a request through it reaches
    # it (it answers, whatever the status); one not through it goes to a
    # loopback port where nothing listens (the connect is refused).
    unroutable = "http://127.0.0.3:1/bytes/5"
    with Server() as s:
        proxy = "http://127.0.0.1:%d" % s.port
        env = dict(os.environ, http_proxy=proxy)
        for k in ("no_proxy", "NO_PROXY", "all_proxy", "ALL_PROXY"):
            env.pop(k, None)
        args = [UVFETCH, "-q", "--connect-timeout", "0.3", unroutable]
        p = subprocess.run(args, capture_output=True, env=env, timeout=60)
        rec = records(p.stdout.decode())[0]
        check(rec["status"] != 0, "not through the proxy: %s" % rec)
        before = s.stats()["requests"]
        env["no_proxy"] = "127.0.0.3"
        p = subprocess.run(args, capture_output=True, env=env, timeout=60)
        rec = records(p.stdout.decode())[0]
        check(rec["error"] in ("timeout", "connect"), rec)
        check(s.stats()["requests"] == before, "no_proxy ignored")
        env = dict(env)
        del env["http_proxy"]
        del env["no_proxy"]
        p = subprocess.run(args, capture_output=True, env=env, timeout=60)
        check(records(p.stdout.decode())[0]["status"] == 0)


# ---- requests: methods, headers and bodies per line; response headers ----

def echoed(path):
    """What /echo received, from a body file: method, headers, body."""
    import base64
    with open(path) as f:
        e = json.load(f)
    return e["method"], e["headers"], base64.b64decode(e["body_base64"])


def named(headers, name):
    return [v for k, v in headers if k.lower() == name.lower()]


def jsonl(reqs):
    return write_input(json.dumps(r) + "\n" for r in reqs)


@request_test
def jsonl_lines_carry_method_headers_body_and_tag():
    with Server() as s, tempfile.TemporaryDirectory() as d:
        inp = jsonl([
            {"url": s.url("/echo"), "method": "PATCH",
             "headers": {"Authorization": "Bearer a", "X-Two": ["1", "2"]},
             "json": {"k": [1, 2]}, "tag": {"id": "x7"}},
            {"url": s.url("/echo"), "body_base64": "AAEC/w=="},
            {"url": s.url("/echo"), "body": "caf\u00e9\u0000!"}])
        with open(inp, "a") as f:
            f.write(s.url("/echo") + "\n")  # a URL line among them
        rc, out, err = run(["-q", "-o", d, "-i", inp])
        check(rc == 0, err)
        recs = records(out)
        check(recs[0]["tag"] == {"id": "x7"} and "tag" not in recs[1], recs)
        m, h, body = echoed(os.path.join(d, "0"))
        check(m == "PATCH" and json.loads(body) == {"k": [1, 2]}, (m, body))
        check(named(h, "X-Two") == ["1", "2"], h)
        check(named(h, "Content-Type") == ["application/json"], h)
        check(named(h, "Accept") == ["application/json"], h)
        check(echoed(os.path.join(d, "1"))[:3:2] == ("POST", b"\0\1\2\xff"))
        check(echoed(os.path.join(d, "2"))[2] == "caf\u00e9\0!".encode())
        check(echoed(os.path.join(d, "3"))[0] == "GET")


@request_test
def a_jsonl_line_with_a_bad_field_is_one_invalid_request_record():
    with Server() as s:
        good = {"url": s.url("/bytes/1")}
        lines = [json.dumps(good), json.dumps({"url": s.url("/bytes/1"),
                                               "headers": {"X": 5}}),
                 '{"url": "%s", "mehtod": "PUT"}' % s.url("/bytes/1"),
                 '{"url": 7}', '{"url": "x", "body": "a", "json": 1}',
                 '{"url": "%s", "body_base64": "@@"}' % s.url("/bytes/1"),
                 '{"url": "%s", "method": "GE T"}' % s.url("/bytes/1"),
                 '{"url": "%s"' % s.url("/bytes/1"), '["not", "an object"]',
                 json.dumps(good)]
        rc, out, err = run(["-q", "--input-format", "jsonl", "-i",
                            write_input(l + "\n" for l in lines)])
        check(rc == 1, err)
        recs = records(out)
        check([r["index"] for r in recs] == list(range(10)), recs)
        check(recs[0]["ok"] and recs[9]["ok"], recs)
        fields = ["headers", "mehtod", "url", "only one of", "body_base64",
                  "method", "not JSON", "not a JSON object"]
        for i, field in enumerate(fields, 1):
            r = recs[i]
            check(r["error"] == "invalid_request", r)
            check(r["message"].startswith("line %d: invalid request" % (i + 1))
                  and field in r["message"], r)
        check(s.stats()["requests"] == 2)


@request_test
def input_format_urls_takes_a_brace_line_as_a_url_and_jsonl_any_line_as_json():
    with Server() as s:
        inp = write_input(['{"url": "%s"}\n' % s.url("/bytes/2"),
                           s.url("/bytes/3") + "\n"])
        _, out, _ = run(["-q", "--input-format", "urls", "-i", inp])
        check([r["error"] for r in records(out)] == ["invalid_url", None])
        _, out, _ = run(["-q", "--input-format", "jsonl", "-i", inp])
        check([r["error"] for r in records(out)] == [None, "invalid_request"])
        rc, _, err = run(["--input-format", "xml", s.url("/")])
        check(rc == 2 and "xml" in err, err)


@request_test
def request_options_apply_to_url_lines_with_a_binary_body_of_1_mib():
    body = random.Random(5).randbytes(1 << 20)
    body = body[:100] + b"\0\0" + body[102:]
    with Server() as s, tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "body.bin")
        with open(path, "wb") as f:
            f.write(body)
        rc, out, err = run(["-q", "-X", "PUT", "-d", "@" + path, "-o", d + "/o",
                            s.url("/echo?a"), s.url("/echo?b")])
        check(rc == 0, err)
        for i in range(2):
            m, h, got = echoed(os.path.join(d, "o", str(i)))
            check(m == "PUT" and got == body, (m, len(got)))
        rc, out, err = run(["-q", "-o", d + "/p", "--json", '{"a":1}',
                            s.url("/echo")])
        m, h, got = echoed(os.path.join(d, "p", "0"))
        check(m == "POST" and got == b'{"a":1}', (m, got))
        check(named(h, "Content-Type") == ["application/json"], h)
        check(named(h, "Accept") == ["application/json"], h)
        rc, _, err = run(["-d", "x", "--json", "{}", s.url("/")])
        check(rc == 2, err)
        rc, _, err = run(["-X", "GE T", s.url("/")])
        check(rc == 2 and "method" in err, err)


@request_test
def a_request_line_may_be_longer_than_a_url_line():
    with Server() as s, tempfile.TemporaryDirectory() as d:
        body = "x" * 300000
        inp = jsonl([{"url": s.url("/echo"), "body": body}])
        with open(inp, "a") as f:
            f.write(s.url("/echo?" + "y" * 70000) + "\n")  # over 64 KiB
        rc, out, err = run(["-q", "-o", d, "-i", inp])
        recs = records(out)
        check(recs[0]["ok"] and recs[1]["error"] == "invalid_url", recs)
        check(echoed(os.path.join(d, "0"))[2] == body.encode())


@request_test
def per_line_headers_differ_per_request_and_are_never_mixed_up():
    with Server() as s, tempfile.TemporaryDirectory() as d:
        inp = jsonl({"url": s.url("/echo?i=%d" % i),
                     "headers": {"X-Line": str(i)}} for i in range(1000))
        rc, out, err = run(["-q", "-j", "100", "-o", d, "-i", inp])
        check(rc == 0, err)
        for i in range(1000):
            h = echoed(os.path.join(d, str(i)))[1]
            check(named(h, "X-Line") == [str(i)], (i, h))


@request_test
def post_after_303_is_a_get_and_after_307_keeps_its_body():
    with Server() as s, tempfile.TemporaryDirectory() as d:
        echo = "http%3A%2F%2F127.0.0.1%3A" + str(s.port) + "%2Fecho"
        rc, out, err = run(["-q", "-d", "payload", "-o", d,
                            s.url("/status/303?location=" + echo),
                            s.url("/status/307?location=" + echo)])
        check(rc == 0, err)
        check(echoed(os.path.join(d, "0"))[::2] == ("GET", b""))
        check(echoed(os.path.join(d, "1"))[::2] == ("POST", b"payload"))


@request_test
def a_cross_host_redirect_drops_authorization():
    with Server() as s, tempfile.TemporaryDirectory() as d:
        away = s.url("/status/307?location=http%3A%2F%2Flocalhost%3A" +
                     str(s.port) + "%2Fecho")
        inp = jsonl([{"url": away, "method": "PUT", "body": "b",
                      "headers": {"Authorization": "Bearer line"}},
                     {"url": away}])
        rc, out, err = run(["-q", "-H", "Authorization: Bearer all", "-o", d,
                            "-i", inp])
        check(rc == 0, err)
        for i in range(2):
            h = echoed(os.path.join(d, str(i)))[1]
            check(named(h, "Authorization") == [], h)
            check(named(h, "Host") == ["localhost:%d" % s.port], h)


@request_test
def post_to_503_is_retried_only_with_retry_all_methods():
    with Server() as s:
        base = ["-q", "--retry", "2", "--retry-delay", "0.01", "-d", "x"]
        _, out, _ = run(base + [s.url("/flaky/1?a")])
        check(records(out)[0]["attempts"] == 1, out)
        _, out, _ = run(base + ["--retry-all-methods", s.url("/flaky/1?b")])
        check(records(out)[0]["attempts"] == 2 and records(out)[0]["ok"], out)
        _, out, _ = run(base + ["-H", "Idempotency-Key: k1",
                                s.url("/flaky/1?c")])
        check(records(out)[0]["attempts"] == 2, out)


@request_test
def headers_option_puts_response_headers_in_the_record():
    with Server() as s:
        url = s.url("/response-headers?Set-Cookie=a%3D1&ETag=%22v%22"
                    "&Set-Cookie=b%3D2")
        rc, out, err = run(["-q", "--headers", url, "http://127.0.0.1:1/"])
        recs = records(out)
        h = recs[0]["headers"]
        check(h["set-cookie"] == ["a=1", "b=2"] and h["etag"] == '"v"', h)
        check(h["content-type"] == "text/plain", h)
        check(recs[1]["headers"] == {}, recs[1])
        check(list(recs[0])[-1] == "headers", list(recs[0]))
        _, out, _ = run(["-q", url])
        check("headers" not in records(out)[0])


@request_test
def response_headers_past_max_header_bytes_end_as_protocol():
    with Server() as s:
        big = s.url("/response-headers?X-Big=" + "a" * 3000)
        rc, out, err = run(["-q", "--headers", "--max-header-bytes", "2k",
                            big, s.url("/bytes/1")])
        recs = records(out)
        check(recs[0]["error"] == "protocol" and "headers" in
              recs[0]["message"], recs[0])
        check(recs[1]["ok"], recs[1])
        rc, out, err = run(["-q", "--headers", "--max-header-bytes", "0",
                            big])
        check(rc == 0, out)


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))


@request_test
def a_million_request_lines_stream_at_flat_memory():
    """1,000,000 JSON lines through a pipe; 1% are real POSTs, the rest
    invalid URLs (their records come at once, through the same parsing,
    notes and records), so that it takes seconds. The input is read only
    as the fetcher takes it, so RSS is taken each time the pipe has taken
    another 10% of the lines. Memory that grows with the input grows in
    every tenth: the five smallest growths of the eight tenths must stay
    under 512 KiB on average (a leak of 6 bytes a line passes it). What is
    bounded grows in steps and stops: the report's window (up to 8 MiB of
    records that the writer thread of a busy machine has not written yet)
    may fill over a few tenths, so the whole growth may only stay under
    24 MiB. The report goes to
    /dev/null, in completion order, so that no record waits for a reader
    or an earlier one. ASan's quarantine is made small: freed memory
    parked there would look like growth."""
    n, marks = 1000000, {}
    env = dict(os.environ)
    env["ASAN_OPTIONS"] = env.get("ASAN_OPTIONS", "") + \
        ":quarantine_size_mb=1:thread_local_quarantine_size_kb=16"
    with Server() as s:
        line = ('{"url":"%s","method":"POST","headers":{"X-I":"%%d"},'
                '"body":"b%%d","tag":%%d}\n')
        real, fake = line % s.url("/echo?i=%d"), line % "u%d"
        p = subprocess.Popen([UVFETCH, "-j", "100", "--order", "done", "-i",
                              "-"], stdin=subprocess.PIPE,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                             env=env, preexec_fn=die_with_parent)
        for i in range(0, n, 1000):
            if i % (n // 10) == 0 and i > 0:
                marks[i // (n // 10)] = rss_kib(p.pid)
            p.stdin.write("".join(
                (real if j % 100 == 0 else fake) % (j, j, j, j)
                for j in range(i, i + 1000)).encode())
        p.stdin.close()
        err = p.stderr.read().decode()
        check(p.wait(timeout=60) == 1, err)
        check("%d URLs: %d ok" % (n, n // 100) in err, err)
        # The window may fill over several tenths on a busy machine: the
        # five smallest of the eight steps must average under 512 KiB.
        steps = sorted(marks[k + 1] - marks[k] for k in range(1, 9))
        check(sum(steps[:5]) / 5 <= 512 and marks[9] - marks[1] <= 24576,
              "RSS by tenths %s KiB" % marks)

def main():
    if len(sys.argv) < 2:
        print("\n".join(TESTS))
        return 0
    if sys.argv[1] == "--requests":
        print("\n".join(REQUESTS))
        return 0
    TESTS[sys.argv[1]]()
    return 0


if __name__ == "__main__":
    sys.exit(main())
