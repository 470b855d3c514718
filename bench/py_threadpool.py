#!/usr/bin/env python3
"""The Python baseline: ThreadPoolExecutor(max_workers=W) + urllib.request.

Standard library only. Same command line and summary line as the C designs:
    py_threadpool.py -w W -i urls.txt [--cafile FILE]  ->  ok=K total=N bytes=B
exits 0 iff every URL got a 2xx. urllib opens one connection per request
(it sends "Connection: close"), as the scripts people write with it do, and
speaks HTTP/1.1 only. --cafile: one ssl.create_default_context(cafile=FILE)
shared by every request (the bundle parsed once), as a script that trusts
a private CA does.
"""
import argparse
import collections
import concurrent.futures
import ssl
import sys
import urllib.error
import urllib.request

CHUNK = 65536


def fetch(url, context):
    """Returns (status, bytes, error) for one URL; error is '' when ok."""
    try:
        with urllib.request.urlopen(url, timeout=60,
                                    context=context) as r:
            n = 0
            while True:
                b = r.read(CHUNK)
                if not b:
                    break
                n += len(b)
            return r.status, n, ""
    except urllib.error.HTTPError as e:
        return e.code, 0, "http %d" % e.code
    except Exception as e:  # one URL's failure is a result, not a crash
        return 0, 0, type(e).__name__ + ": " + str(e)[:80]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-w", "-j", dest="w", type=int, default=50)
    ap.add_argument("-i", dest="input", required=True)
    ap.add_argument("--cafile", help="trusted CAs for https:// (PEM)")
    a = ap.parse_args()
    context = ssl.create_default_context(cafile=a.cafile) if a.cafile \
        else None
    with open(a.input) as f:
        urls = [line.strip() for line in f if line.strip()]

    results = [(0, 0, "not submitted")] * len(urls)
    extra = ""
    with concurrent.futures.ThreadPoolExecutor(max_workers=a.w) as pool:
        futures = {}
        for i, u in enumerate(urls):
            try:
                futures[pool.submit(fetch, u, context)] = i
            except RuntimeError as e:  # "can't start new thread"
                extra = " threads_failed_at=%d" % len(pool._threads)
                print("submit failed at URL %d: %s" % (i, e), file=sys.stderr)
                break
        for fut in concurrent.futures.as_completed(futures):
            results[futures[fut]] = fut.result()

    ok = sum(1 for s, _, e in results if not e and 200 <= s < 300)
    total_bytes = sum(n for _, n, _ in results)
    print("ok=%d total=%d bytes=%d%s" % (ok, len(urls), total_bytes, extra),
          flush=True)
    if ok != len(urls):
        kinds = collections.Counter(e or "status %d" % s
                                    for s, _, e in results
                                    if e or not 200 <= s < 300)
        for err, count in kinds.most_common(8):
            print("failed: %d x %s" % (count, err), file=sys.stderr)
    return 0 if ok == len(urls) else 1


if __name__ == "__main__":
    sys.exit(main())
