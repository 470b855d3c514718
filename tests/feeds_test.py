#!/usr/bin/env python3
"""The collector (uvfetch feeds, --db), one behaviour per test, against the
project's own loopback server and its generated feeds (/feed/<n>). Run:
feeds_test.py NAME (env: UVFETCH, UVF_TESTSERVER). With no NAME, lists the
tests."""
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cli_test import Server, check, die_with_parent  # noqa: E402

UVFETCH = os.environ.get("UVFETCH", "")
TESTS = {}


def test(fn):
    TESTS[fn.__name__] = fn
    return fn


def feeds(db, *args, timeout=120):
    p = subprocess.run([UVFETCH, "feeds"] + [args[0], "--db", db] +
                       list(args[1:]), capture_output=True, timeout=timeout)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


def lines(out):
    return [json.loads(line) for line in out.splitlines()]


def query(db, sql, *params):
    con = sqlite3.connect(db)
    try:
        rows = con.execute(sql, params).fetchall()
        con.commit()
        return rows
    finally:
        con.close()


def scalar(db, sql, *params):
    return query(db, sql, *params)[0][0]


def add(db, urls):
    rc, out, err = feeds(db, "add", *urls)
    check(rc == 0, "add: exit %d: %s" % (rc, err))


def run_ok(db, *args):
    rc, out, err = feeds(db, "run", "-q", *args)
    check(rc == 0, "run: exit %d: %s" % (rc, err))
    return lines(out)


class Tmp:
    def __enter__(self):
        self.d = tempfile.TemporaryDirectory()
        return os.path.join(self.d.name, "feeds.db")

    def __exit__(self, *a):
        self.d.cleanup()


@test
def feeds_every_format_and_encoding_stored():
    with Server() as s, Tmp() as db:
        urls = [s.url("/feed/%d?fmt=%s&enc=%s&items=3" % (i, f, e))
                for i, (f, e) in enumerate(
                    (f, e) for f in ("rss2", "rss1", "atom")
                    for e in ("utf-8", "windows-1252", "koi8-r"))]
        add(db, urls)
        recs = run_ok(db)
        check(len(recs) == 9 and all(r["items"] == 3 for r in recs), recs)
        for url in urls:
            word = "Привет" if "koi8" in url else "café"
            titles = [t for (t,) in query(
                db, "SELECT i.title FROM items i JOIN feeds f ON f.id = i.feed"
                " WHERE f.url = ? ORDER BY i.uid", url)]
            check(titles == ["Item %d %s" % (k, word) for k in range(3)],
                  "%s: %s" % (url, titles))
            uids = [u for (u,) in query(
                db, "SELECT uid FROM items i JOIN feeds f ON f.id = i.feed"
                " WHERE f.url = ? ORDER BY uid", url)]
            n = urls.index(url)
            check(uids == ["feed-%d-item-%d" % (n, k) for k in range(3)], uids)


def thousand(s, db, extra=""):
    hosts = ["127.0.0.%d" % i for i in range(1, 6)]
    urls = [s.url("/feed/%d?fmt=%s%s" % (i, ("rss2", "rss1", "atom")[i % 3],
                                         extra), hosts[i % 5])
            for i in range(1000)]
    add(db, urls)
    return hosts


@test
def feeds_thousand_on_five_hosts_each_item_stored_once():
    with Server(",".join("127.0.0.%d" % i for i in range(1, 6))) as s, \
            Tmp() as db:
        hosts = thousand(s, db)
        recs = run_ok(db, "-j", "100", "--per-host", "10")
        check(len(recs) == 1000, "%d feeds reported" % len(recs))
        check(all(r["outcome"] == "ok" and r["items"] == 20 for r in recs))
        check(scalar(db, "SELECT count(*) FROM items") == 20000)
        check(scalar(db, "SELECT count(DISTINCT feed || ' ' || uid) FROM"
                     " items") == 20000)
        check(scalar(db, "SELECT count(*) FROM feeds WHERE last_status ="
                     " 200") == 1000)
        peaks = s.stats()["peak_in_flight_by_addr"]
        check(all(peaks[h] <= 10 for h in hosts), peaks)


@test
def feeds_second_run_writes_no_item():
    with Server() as s, Tmp() as db:
        add(db, [s.url("/feed/%d?items=20" % i) for i in range(50)])
        run_ok(db)
        before = query(db, "SELECT id, changed, hash FROM items ORDER BY id")
        rc, out, err = feeds(db, "run", "--all")
        check(rc == 0, err)
        check("0 items new or changed" in err, err)
        check(query(db, "SELECT id, changed, hash FROM items ORDER BY id") ==
              before)


@test
def feeds_changed_item_updates_one_row():
    with Server() as s, Tmp() as db:
        add(db, [s.url("/feed/1?rev=0"), s.url("/feed/2?rev=0")])
        run_ok(db)
        before = dict(query(db, "SELECT uid, title FROM items"))
        # The same feed, now serving its next revision.
        query(db, "UPDATE feeds SET url = replace(url, 'rev=0', 'rev=1')"
              " WHERE url LIKE '%/feed/1?%'")
        time.sleep(1.1)  # so that "changed" moves
        rc, out, err = feeds(db, "run", "--all")
        check(rc == 0, err)
        check("1 items new or changed" in err, err)
        after = dict(query(db, "SELECT uid, title FROM items"))
        diff = [u for u in after if after[u] != before.get(u)]
        check(diff == ["feed-1-item-0"], diff)
        check(after["feed-1-item-0"].endswith("rev 1"), after["feed-1-item-0"])
        check(scalar(db, "SELECT count(*) FROM items") == 40)
        newest = lines(feeds(db, "items", "--limit", "1")[1])
        check(newest[0]["uid"] == "feed-1-item-0", newest)


@test
def feeds_bad_documents_fail_only_their_feed():
    with Server() as s, Tmp() as db:
        bad = {s.url("/feed/1?bad=html"): "not a feed",
               s.url("/feed/2?bad=bomb"): "entity",
               s.url("/feed/3?bad=malformed"): "malformed",
               s.url("/gzip-bomb"): "",
               s.url("/bytes/3000000"): ""}
        good = [s.url("/feed/%d" % i) for i in range(10, 15)]
        add(db, list(bad) + good)
        t0 = time.time()
        rc, out, err = feeds(db, "run", "-q", "--compressed",
                             "--max-body", "1M")
        check(rc == 1, "exit %d: %s" % (rc, err))
        check(time.time() - t0 < 10, "took %.1f s" % (time.time() - t0))
        by_url = {r["url"]: r for r in lines(out)}
        for url, why in bad.items():
            r = by_url[url]
            check(r["ok"] is False and r["outcome"] == "error", r)
            check(why in r["message"], r)
        check(by_url[s.url("/gzip-bomb")]["error"] == "too_large")
        check(by_url[s.url("/bytes/3000000")]["error"] == "too_large")
        for url in good:
            check(by_url[url]["outcome"] == "ok", by_url[url])
        check(scalar(db, "SELECT count(*) FROM items") == 100)
        check(scalar(db, "SELECT count(*) FROM feeds WHERE errors = 1") == 5)


@test
def feeds_bad_bytes_are_recovered():
    with Server() as s, Tmp() as db:
        add(db, [s.url("/feed/1?bad=badbytes")])
        recs = run_ok(db)
        check(recs[0]["outcome"] == "ok" and recs[0]["items"] == 20, recs)


@test
def feeds_not_modified_is_ok():
    with Server() as s, Tmp() as db:
        add(db, [s.url("/status/304")])
        recs = run_ok(db)
        check(recs[0]["ok"] is True and recs[0]["outcome"] == "not_modified",
              recs)
        check(query(db, "SELECT last_status, errors FROM feeds") ==
              [(304, 0)])


@test
def feeds_gone_stops_the_feed():
    with Server() as s, Tmp() as db:
        add(db, [s.url("/status/410"), s.url("/feed/1")])
        rc, out, err = feeds(db, "run", "-q")
        check(rc == 1, err)
        check(scalar(db, "SELECT gone FROM feeds WHERE url LIKE"
                     " '%/status/410'") == 1)
        recs = run_ok(db, "--all")
        check([r["url"] for r in recs] == [s.url("/feed/1")], recs)


@test
def feeds_errors_back_off():
    with Server() as s, Tmp() as db:
        add(db, [s.url("/status/500")])
        for k, wait in ((1, 300), (2, 600), (3, 1200)):
            t = int(time.time())
            rc, out, err = feeds(db, "run", "-q", "--all")
            check(rc == 1, err)
            errors, nxt = query(db, "SELECT errors, next_check FROM feeds")[0]
            check(errors == k, errors)
            check(t + wait <= nxt <= int(time.time()) + wait,
                  "after %d errors: next check in %d s" % (k, nxt - t))


@test
def feeds_ttl_sets_next_check_within_clamps():
    with Server() as s, Tmp() as db:
        add(db, [s.url("/feed/1?ttl=600"), s.url("/feed/2?ttl=2"),
                 s.url("/feed/3?ttl=2000"), s.url("/feed/4")])
        t = int(time.time())
        run_ok(db)
        got = dict(query(db, "SELECT url, next_check FROM feeds"))
        want = {"/feed/1?ttl=600": 36000, "/feed/2?ttl=2": 300,
                "/feed/3?ttl=2000": 86400, "/feed/4": 3600}
        for path, secs in want.items():
            nxt = got[s.url(path)]
            check(t + secs <= nxt <= int(time.time()) + secs,
                  "%s: %d" % (path, nxt - t))


@test
def feeds_only_due_feeds_are_fetched():
    with Server() as s, Tmp() as db:
        add(db, [s.url("/feed/%d" % i) for i in range(5)])
        run_ok(db)
        n = s.stats()["requests"]
        recs = run_ok(db)
        check(recs == [], recs)
        check(s.stats()["requests"] == n)
        add(db, [s.url("/feed/9")])
        recs = run_ok(db)
        check([r["url"] for r in recs] == [s.url("/feed/9")], recs)


@test
def feeds_import_opml():
    with Tmp() as db:
        opml = db + ".opml"
        with open(opml, "w") as f:
            f.write('<?xml version="1.0"?><opml version="2.0"><head/><body>'
                    '<outline text="a" xmlUrl="http://127.0.0.1:1/a"/>'
                    '<outline text="group"><outline text="b" type="rss"'
                    ' xmlUrl="https://127.0.0.1:1/b"/></outline>'
                    '<outline text="not a feed" xmlUrl="file:///etc/passwd"/>'
                    '</body></opml>')
        rc, out, err = feeds(db, "import", opml)
        check(rc == 0, err)
        check([u for (u,) in query(db, "SELECT url FROM feeds ORDER BY id")]
              == ["http://127.0.0.1:1/a", "https://127.0.0.1:1/b"])


def reset_stats(s):
    import urllib.request
    with urllib.request.urlopen(s.url("/stats/reset"), timeout=5) as r:
        r.read()


def consistent(db):
    """Every feed is either committed whole (its status and all its items)
    or untouched (still due, no item)."""
    check(scalar(db, "PRAGMA integrity_check") == "ok")
    rows = query(db, "SELECT f.id, f.last_status, f.next_check,"
                 " (SELECT count(*) FROM items WHERE feed = f.id)"
                 " FROM feeds f")
    for fid, status, nxt, items in rows:
        check((status == 200 and items == 20) or
              (status is None and nxt == 0 and items == 0),
              "feed %d: status %s, %d items" % (fid, status, items))
    return sum(1 for r in rows if r[1] == 200)


@test
def feeds_kill9_mid_run_then_run_loses_nothing():
    with Server() as s, Tmp() as db:
        add(db, [s.url("/feed/%d?delay=%d" % (i, 20 + i % 40))
                 for i in range(400)])
        p = subprocess.Popen([UVFETCH, "feeds", "run", "--db", db, "-q",
                              "-j", "20"], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL,
                             preexec_fn=die_with_parent)
        deadline = time.time() + 30
        done = 0
        while time.time() < deadline and p.poll() is None:
            time.sleep(0.05)
            try:
                done = scalar(db, "SELECT count(*) FROM feeds WHERE"
                              " last_status = 200")
            except sqlite3.OperationalError:
                continue  # the schema is being made
            if done >= 100:
                break
        check(p.poll() is None, "the run ended before it could be killed")
        p.send_signal(signal.SIGKILL)
        p.wait(timeout=10)
        first = consistent(db)
        check(100 <= first < 400, "%d feeds committed" % first)
        reset_stats(s)
        run_ok(db, "-j", "50")
        check(consistent(db) == 400)
        check(scalar(db, "SELECT count(*) FROM items") == 8000)
        # Only what was not committed was fetched again.
        check(s.stats()["requests"] == 400 - first,
              "%d fetched again, %d were missing" %
              (s.stats()["requests"], 400 - first))


@test
def feeds_interrupt_exits_130_and_leaves_the_rest_due():
    with Server() as s, Tmp() as db:
        add(db, [s.url("/feed/%d?delay=%d" % (i, 50 if i < 5 else 3000))
                 for i in range(20)])
        p = subprocess.Popen([UVFETCH, "feeds", "run", "--db", db, "-q",
                              "-j", "20", "--grace", "0.2"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             preexec_fn=die_with_parent)
        time.sleep(1.0)
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=20)
        check(p.returncode == 130, "exit %d: %s" % (p.returncode, err))
        recs = lines(out.decode())
        check(sum(r["outcome"] == "ok" for r in recs) == 5, recs)
        check(sum(r["outcome"] == "aborted" for r in recs) == 15, recs)
        check(scalar(db, "SELECT count(*) FROM feeds WHERE next_check = 0")
              == 15)
        consistent(db)


@test
def feeds_second_run_against_honouring_server_is_all_304():
    with Server() as s, Tmp() as db:
        add(db, [s.url("/feed/%d?cond=1" % i) for i in range(20)])
        run_ok(db)
        check(query(db, "SELECT etag, last_modified FROM feeds WHERE id = 1")
              == [('"f0-0"', "Mon, 02 Jan 2006 15:04:05 GMT")])
        check(scalar(db, "SELECT count(*) FROM feeds WHERE etag IS NOT NULL"
                     " AND last_modified IS NOT NULL") == 20)
        rc, out, err = feeds(db, "run", "--all")
        check(rc == 0, err)
        recs = lines(out)
        check(len(recs) == 20 and all(
            r["outcome"] == "not_modified" and r["status"] == 304 and
            r["bytes"] == 0 for r in recs), out)
        check("0 items new or changed" in err, err)
        # One feed changes (its next revision has another ETag and date):
        # only it is sent whole, and one item row changes.
        query(db, "UPDATE feeds SET url = replace(url, 'cond=1',"
              " 'cond=1&rev=1') WHERE id = 1")
        time.sleep(1.1)  # so that "changed" moves
        rc, out, err = feeds(db, "run", "--all")
        check(rc == 0, err)
        recs = lines(out)
        oks = [r["feed"] for r in recs if r["outcome"] == "ok"]
        nms = sorted(r["feed"] for r in recs if r["outcome"] == "not_modified")
        check(oks == [1] and nms == list(range(2, 21)), out)
        check("1 items new or changed" in err, err)
        check(scalar(db, "SELECT etag FROM feeds WHERE id = 1") == '"f0-1"')


@test
def feeds_304_with_new_validators_stores_them():
    """A 304 that names another ETag (here for the same Last-Modified)
    replaces the stored one, and the next run sends it."""
    with Server() as s, Tmp() as db:
        add(db, [s.url("/feed/0?cond=1")])
        run_ok(db)
        check(scalar(db, "SELECT etag FROM feeds WHERE id = 1") == '"f0-0"')
        query(db, "UPDATE feeds SET url = url || '&etag=1' WHERE id = 1")
        rc, out, err = feeds(db, "run", "--all")
        check(rc == 0 and lines(out)[0]["status"] == 304, out + err)
        check(query(db, "SELECT etag, last_modified FROM feeds WHERE id = 1")
              == [('"f0-0-e1"', "Mon, 02 Jan 2006 15:04:05 GMT")])
        # Now only the new ETag matches: sent, it is answered 304.
        query(db, "UPDATE feeds SET last_modified = NULL WHERE id = 1")
        rc, out, err = feeds(db, "run", "--all")
        check(rc == 0 and lines(out)[0]["status"] == 304, out + err)
        check(scalar(db, "SELECT last_modified FROM feeds WHERE id = 1")
              == "Mon, 02 Jan 2006 15:04:05 GMT")


@test
def feeds_charset_from_content_type_decodes_the_document():
    """A document that names no encoding (no BOM, no encoding= in its XML
    declaration) is read in the charset of the reply's Content-Type."""
    with Server() as s, Tmp() as db:
        urls = [s.url("/feed/%d?fmt=%s&enc=%s&charset=http&items=2" %
                      (i, f, e))
                for i, (f, e) in enumerate(
                    (f, e) for f in ("rss2", "rss1", "atom")
                    for e in ("windows-1252", "koi8-r"))]
        add(db, urls)
        recs = run_ok(db)
        check(all(r["outcome"] == "ok" and r["items"] == 2 for r in recs),
              recs)
        for url in urls:
            word = "Привет" if "koi8" in url else "café"
            rows = query(db, "SELECT f.title, i.title FROM items i JOIN feeds"
                         " f ON f.id = i.feed WHERE f.url = ? ORDER BY"
                         " i.uid", url)
            n = urls.index(url)
            check(rows == [("Feed %d %s" % (n, word), "Item %d %s" % (k, word))
                           for k in range(2)], "%s: %s" % (url, rows))


def next_checks(db, s):
    """Each feed's next check, in seconds from now, by its path."""
    now = int(time.time())
    prefix = s.url("")
    return {u[len(prefix):]: nxt - now for u, nxt in
            query(db, "SELECT url, next_check FROM feeds")}


def near(got, want, path):
    # The check is set when the reply comes, a few seconds at most ago.
    check(want - 5 <= got <= want, "%s: next check in %d s, not %d" %
          (path, got, want))


@test
def feeds_cache_control_and_expires_set_the_next_check():
    with Server() as s, Tmp() as db:
        want = {"/feed/1?maxage=7200": 7200,
                "/feed/2?maxage=60": 300,  # no sooner than 5 minutes
                "/feed/3?maxage=500000": 86400,  # no later than a day
                "/feed/4?expires=10000": 10000,
                "/feed/5?ttl=600&maxage=7200": 36000,  # the longest wins
                "/feed/6?cond=1&maxage=5400": 5400}
        add(db, [s.url(p) for p in want])
        run_ok(db)
        got = next_checks(db, s)
        for path, secs in want.items():
            near(got[path], secs, path)
        # A 304 tells it too.
        query(db, "UPDATE feeds SET url = replace(url, 'maxage=5400',"
              " 'maxage=4000') WHERE url LIKE '%cond=1%'")
        recs = run_ok(db, "--all")
        path = "/feed/6?cond=1&maxage=4000"
        check([r["outcome"] for r in recs if r["url"] == s.url(path)] ==
              ["not_modified"], recs)
        near(next_checks(db, s)[path], 4000, path)


@test
def feeds_retry_after_sets_the_next_try():
    with Server() as s, Tmp() as db:
        add(db, [s.url("/feed/1?retry=7200"), s.url("/feed/2?retry=10")])
        rc, out, err = feeds(db, "run", "-q")
        check(rc == 1, err)
        check(all(r["status"] == 503 and r["outcome"] == "error"
                  for r in lines(out)), out)
        got = next_checks(db, s)
        near(got["/feed/1?retry=7200"], 7200, "Retry-After: 7200")
        near(got["/feed/2?retry=10"], 300, "Retry-After: 10")  # the backoff


def fetch(args, timeout=120):
    p = subprocess.run([UVFETCH] + args, capture_output=True, timeout=timeout)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


@test
def db_keeps_every_record_of_a_fetch():
    with Server() as s, Tmp() as db:
        urls = [s.url("/bytes/%d?i=%d" % (i % 50, i)) for i in range(500)]
        rc, out, err = fetch(["-q", "-j", "50", "--db", db] + urls)
        check(rc == 0, err)
        report = [json.loads(line) for line in out.splitlines()]
        rows = query(db, "SELECT idx, url, ok, status, outcome, bytes, record"
                     " FROM records ORDER BY idx")
        check(len(rows) == 500, "%d rows" % len(rows))
        for (idx, url, ok, status, outcome, nbytes, record), rep in \
                zip(rows, report):
            check(idx == rep["index"] and url == urls[idx] and ok == 1 and
                  status == 200 and outcome == "ok" and nbytes == idx % 50,
                  (idx, url, ok, status, outcome, nbytes))
            check(json.loads(record) == rep, record)
        check(scalar(db, "SELECT count(*) FROM runs WHERE finished IS NOT"
                     " NULL") == 1)


@test
def db_bodies_kept_with_db_bodies():
    with Server() as s, Tmp() as db:
        rc, out, err = fetch(["-q", "--db", db, "--db-bodies",
                              s.url("/bytes/30")])
        check(rc == 0, err)
        check(query(db, "SELECT body FROM records") ==
              [(b"abcdefghijklmnopqrstuvwxyzabcd",)])


@test
def db_stores_the_validators_of_each_reply():
    with Server() as s, Tmp() as db:
        urls = [s.url("/feed/1"), s.url("/feed/2?rev=3"), s.url("/bytes/3")]
        rc, out, err = fetch(["-q", "--db", db] + urls)
        check(rc == 0, err)
        check(query(db, "SELECT url, etag, last_modified FROM validators"
                    " ORDER BY url") ==
              [(urls[0], '"f1-0"', "Mon, 02 Jan 2006 15:04:05 GMT"),
               (urls[1], '"f2-3"', "Mon, 02 Jan 2006 18:04:05 GMT")])
        # Kept for the database, the headers go into records only when
        # asked for.
        check(all("headers" not in json.loads(line)
                  for line in out.splitlines()), out)
        rc, out, err = fetch(["-q", "--db", db, "--headers", urls[0]])
        check(rc == 0 and json.loads(out)["headers"]["etag"] == '"f1-0"',
              out)


@test
def db_not_modified_is_ok():
    with Server() as s, Tmp() as db:
        rc, out, err = fetch(["-q", "--db", db, s.url("/status/304")])
        check(rc == 0, "exit %d: %s" % (rc, err))
        rec = json.loads(out)
        check(rec["ok"] is True and rec["status"] == 304 and
              rec["error"] is None, rec)
        check(query(db, "SELECT ok, outcome FROM records") ==
              [(1, "not_modified")])
        # Without --db, a 304 stays what the library says.
        rc, out, err = fetch(["-q", s.url("/status/304")])
        check(rc == 1 and json.loads(out)["error"] == "http", out)


def fetch_lines(db, lines, *args):
    inp = db + ".in"
    with open(inp, "w") as f:
        f.write("".join(line + "\n" for line in lines))
    rc, out, err = fetch(["-q", "--db", db, "-i", inp] + list(args))
    check(rc == 0, "exit %d: %s" % (rc, err))
    return [(r["status"], r["bytes"] > 0) for r in lines_of(out)]


def lines_of(out):
    return [json.loads(line) for line in out.splitlines()]


@test
def db_second_run_sends_the_validators_back():
    """A URL fetched whole before is asked for with its ETag and
    Last-Modified: 304, no body. Not a request that is no GET, nor one
    that sends a conditional field of its own."""
    with Server() as s, Tmp() as db:
        own = json.dumps({"url": s.url("/feed/3?cond=1"),
                          "headers": {"If-None-Match": '"other"'}})
        post = json.dumps({"url": s.url("/feed/4?cond=1"), "method": "POST",
                           "body": "x"})
        lines = [s.url("/feed/1?cond=1"), s.url("/feed/2?cond=1"),
                 s.url("/bytes/3"), own, post]
        check(fetch_lines(db, lines) == [(200, True)] * 5)
        check(fetch_lines(db, lines) == [(304, False), (304, False),
                                         (200, True), (200, True),
                                         (200, True)])
        # The reader of the validators closed before the writer, which, the
        # last connection, removed the -wal and -shm files.
        check(not os.path.exists(db + "-wal") and
              not os.path.exists(db + "-shm"))
        check(query(db, "SELECT outcome FROM records WHERE status = 304") ==
              [("not_modified",), ("not_modified",)])
        # --no-conditional: every URL whole.
        check(fetch_lines(db, lines[:2], "--no-conditional") ==
              [(200, True)] * 2)
        rc, out, err = fetch(["--no-conditional", s.url("/bytes/3")])
        check(rc == 2 and "--no-conditional needs --db" in err, err)
        # A conditional field given with -H is the caller's: left alone.
        check(fetch_lines(db, lines[:1], "-H", 'If-Match: "x"') ==
              [(200, True)])
        # A body without a method is a POST: done, not answered 304.
        check(fetch_lines(db, lines[:1], "-d", "x") == [(200, True)])
        # -o keeps each body in its file: no 304 may leave one empty.
        out_dir = db + ".d"
        check(fetch_lines(db, lines[:1], "-o", out_dir) == [(200, True)])
        check(os.path.getsize(os.path.join(out_dir, "0")) > 0)


@test
def db_stores_validators_of_get_replies_only():
    with Server() as s, Tmp() as db:
        head = json.dumps({"url": s.url("/feed/1?cond=1"), "method": "HEAD"})
        post = json.dumps({"url": s.url("/feed/2?cond=1"), "method": "POST",
                           "body": "x"})
        fetch_lines(db, [head, post])
        check(scalar(db, "SELECT count(*) FROM validators") == 0)
        # So the GETs that follow get whole replies.
        check(fetch_lines(db, [s.url("/feed/1?cond=1"),
                               s.url("/feed/2?cond=1")]) ==
              [(200, True), (200, True)])


@test
def db_304_with_a_new_etag_replaces_the_stored_one():
    with Server() as s, Tmp() as db:
        url = s.url("/feed/1?cond=1")
        check(fetch_lines(db, [url]) == [(200, True)])
        # Sent, the stale ETag does not match but the date does: the 304
        # names the current ETag, which replaces it; the date stays.
        query(db, "UPDATE validators SET etag = '\"stale\"'")
        check(fetch_lines(db, [url]) == [(304, False)])
        check(query(db, "SELECT etag, last_modified FROM validators") ==
              [('"f1-0"', "Mon, 02 Jan 2006 15:04:05 GMT")])


@test
def db_kill9_leaves_a_consistent_database():
    with Server() as s, Tmp() as db:
        urls = [s.url("/delay/%d?i=%d" % (5 + i % 30, i)) for i in range(3000)]
        inp = db + ".txt"
        with open(inp, "w") as f:
            f.write("".join(u + "\n" for u in urls))
        p = subprocess.Popen([UVFETCH, "-q", "-j", "50", "--db", db, "-i",
                              inp], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL,
                             preexec_fn=die_with_parent)
        deadline = time.time() + 30
        n = 0
        while time.time() < deadline and p.poll() is None and n < 300:
            time.sleep(0.05)
            try:
                n = scalar(db, "SELECT count(*) FROM records")
            except sqlite3.OperationalError:
                pass
        check(p.poll() is None, "the run ended before it could be killed")
        p.send_signal(signal.SIGKILL)
        p.wait(timeout=10)
        check(scalar(db, "PRAGMA integrity_check") == "ok")
        rows = query(db, "SELECT idx, url, record FROM records")
        check(len(rows) >= n, "%d rows, %d seen before" % (len(rows), n))
        for idx, url, record in rows:
            check(url == urls[idx] and json.loads(record)["index"] == idx)
        check(scalar(db, "SELECT count(*) FROM runs WHERE finished IS"
                     " NULL") == 1)


@test
def feeds_help_matches_the_man_page():
    p = subprocess.run([UVFETCH, "feeds", "--help"], capture_output=True)
    check(p.returncode == 0)
    out = p.stdout.decode()
    man = open(os.path.join(os.path.dirname(os.environ["UVF_MANPAGE"]),
                            "uvfetch-feeds.1")).read().replace("\\-", "-")
    opts = set(re.findall(r"--[a-z][a-z-]+", out))
    missing = [o for o in opts if o not in man]
    check(not missing, "not in the man page: %s" % missing)
    for cmd in ("add", "import", "list", "run", "items"):
        check(cmd in out and re.search(r"^\.B[IR]? %s\b" % cmd, man, re.M),
              cmd)
    rc = subprocess.run([UVFETCH, "feeds", "nope"], capture_output=True)
    check(rc.returncode == 2 and b"unknown command" in rc.stderr)
    rc = subprocess.run([UVFETCH, "feeds", "list"], capture_output=True)
    check(rc.returncode == 2 and b"--db FILE is required" in rc.stderr)
    rc = subprocess.run([UVFETCH, "feeds", "run", "--db", "x.db", "-o", "d"],
                        capture_output=True)
    check(rc.returncode == 2 and b"not for uvfetch feeds" in rc.stderr,
          rc.stderr)


def main():
    if len(sys.argv) < 2:
        print("\n".join(TESTS))
        return 0
    TESTS[sys.argv[1]]()
    return 0


if __name__ == "__main__":
    sys.exit(main())
