#!/usr/bin/env python3
"""S2's collector in Python as it is usually written: a ThreadPoolExecutor
of W fetchers (urllib) hands each raw document through a bounded queue to
one writer thread that parses it with feedparser and writes its items with
sqlite3, in transactions of 100 feeds or 50 ms, into the schema that
`uvfetch feeds add` made (the same statements as uvfetch's).

    py_feeds.py -w W --db FILE

Prints "feeds=N ok=K items=I commit_p99_ms=X". Needs feedparser (Debian:
python3-feedparser)."""
import argparse
import hashlib
import math
import queue
import sqlite3
import sys
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import feedparser

ITEM = ("INSERT INTO items(feed, uid, title, link, summary, author,"
        " published, updated, hash, first_seen, changed)"
        " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10)"
        " ON CONFLICT(feed, uid) DO UPDATE SET title = excluded.title,"
        " link = excluded.link, summary = excluded.summary,"
        " author = excluded.author, published = excluded.published,"
        " updated = excluded.updated, hash = excluded.hash,"
        " changed = excluded.changed WHERE hash != excluded.hash")
FEED = ("UPDATE feeds SET title = coalesce(?1, title), last_check = ?2,"
        " last_status = ?3, errors = 0, next_check = ?4 WHERE id = ?5")
DONE = object()


def fetch(q, fid, url):
    status, body = 0, b""
    try:
        with urllib.request.urlopen(url, timeout=60) as r:
            status, body = r.status, r.read()
    except Exception:
        pass
    q.put((fid, status, body, time.monotonic()))


def stamp(t):
    return int(time.mktime(t)) if t else 0


def store(con, fid, status, body, counts):
    counts["feeds"] += 1
    if status != 200:
        return
    d = feedparser.parse(body)
    if d.bozo and not d.entries:
        return
    now = int(time.time())
    for e in d.entries:
        text = "|".join(str(e.get(k, "")) for k in
                        ("title", "link", "summary", "published", "updated"))
        h = int.from_bytes(hashlib.blake2b(text.encode(),
                                           digest_size=8).digest(),
                           "big", signed=True)
        uid = e.get("id") or e.get("link") or "hash:%016x" % (h & (2**64 - 1))
        con.execute(ITEM, (fid, uid, e.get("title"), e.get("link"),
                           e.get("summary"), e.get("author"),
                           stamp(e.get("published_parsed")),
                           stamp(e.get("updated_parsed")), h, now))
        counts["items"] += 1
    con.execute(FEED, (d.feed.get("title"), now, status, now + 3600, fid))
    counts["ok"] += 1


def writer(path, q, counts, lat):
    con = sqlite3.connect(path, isolation_level=None)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=NORMAL")
    pending, start = [], None
    while True:
        try:
            wait = None if start is None else max(0, start + 0.05 -
                                                  time.monotonic())
            got = q.get(timeout=wait)
        except queue.Empty:
            got = None
        if got is not None and got is not DONE:
            fid, status, body, t = got
            if start is None:
                con.execute("BEGIN")
                start = time.monotonic()
            store(con, fid, status, body, counts)
            pending.append(t)
        if start is not None and (got is None or got is DONE or
                                  len(pending) >= 100 or
                                  time.monotonic() >= start + 0.05):
            con.execute("COMMIT")
            now = time.monotonic()
            lat.extend(now - t for t in pending)
            pending, start = [], None
        if got is DONE:
            break
    con.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-w", type=int, default=50)
    ap.add_argument("--db", required=True)
    a = ap.parse_args()
    con = sqlite3.connect(a.db)
    feeds = con.execute("SELECT id, url FROM feeds WHERE gone = 0").fetchall()
    con.close()
    q = queue.Queue(maxsize=64)
    counts = {"feeds": 0, "ok": 0, "items": 0}
    lat = []
    wt = threading.Thread(target=writer, args=(a.db, q, counts, lat))
    wt.start()
    with ThreadPoolExecutor(max_workers=a.w) as ex:
        for fid, url in feeds:
            ex.submit(fetch, q, fid, url)
    q.put(DONE)
    wt.join()
    lat.sort()
    p99 = lat[math.ceil(0.99 * len(lat)) - 1] * 1000 if lat else 0
    print("feeds=%d ok=%d items=%d commit_p99_ms=%.1f" %
          (counts["feeds"], counts["ok"], counts["items"], p99))
    return 0 if counts["ok"] == counts["feeds"] else 1


if __name__ == "__main__":
    sys.exit(main())
