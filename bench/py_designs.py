#!/usr/bin/env python3
"""The Python designs people write for "fetch many slow URLs", and the
uvfetch module, with one command line and summary line (as the C designs):

    py_designs.py DESIGN -w W -i urls.txt  ->  ok=K total=N bytes=B [extra]

exits 0 iff every URL got a 2xx with its whole body. Every design stores
(status, bytes, error) at the URL's index and keeps no body. Designs:

  threads    one threading.Thread per URL (W ignored), urllib.request
  queue      a queue.Queue feeding W worker threads, urllib.request
  pool       concurrent.futures.ThreadPoolExecutor(W), urllib.request
  procs      multiprocessing.Pool(W), urllib.request in each process
  aiohttp    asyncio + aiohttp, one session, TCPConnector(limit=W)
  uvfetch    uvfetch.Client(concurrency=W).fetch(urls): the module,
             results stored by index as they come, bodies kept
  uvfetch-nobody  the same with keep_body=False (bytes counted only, as
             the C designs do)

urllib sends "Connection: close", so its designs open a connection per
request, as the scripts people write with it do. procs adds pool_kb= (the
parent's peak RSS plus each worker's private memory) and rss_sum_kb= (the
sum of every process's peak RSS) for bench/run.
"""
import os
import sys

CHUNK = 65536
TIMEOUT = 60


def fetch(url):
    """(status, bytes, error) for one URL with urllib; error '' when ok."""
    import urllib.error  # here: the uvfetch design does not load urllib
    import urllib.request
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT) as r:
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


def by_threads(urls, w, res):
    import threading

    def one(i):
        res[i] = fetch(urls[i])
    threads = []
    for i in range(len(urls)):
        t = threading.Thread(target=one, args=(i,))
        try:
            t.start()
        except RuntimeError as e:  # "can't start new thread"
            print("thread %d: %s" % (i, e), file=sys.stderr)
            return " threads_failed_at=%d" % i
        threads.append(t)
    for t in threads:
        t.join()
    return ""


def by_queue(urls, w, res):
    import queue
    import threading
    q = queue.Queue()
    for i in range(len(urls)):
        q.put(i)

    def worker():
        while True:
            try:
                i = q.get_nowait()
            except queue.Empty:
                return
            res[i] = fetch(urls[i])
    workers = [threading.Thread(target=worker) for _ in range(w)]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    return ""


def by_pool(urls, w, res):
    import concurrent.futures
    with concurrent.futures.ThreadPoolExecutor(max_workers=w) as pool:
        futures = {pool.submit(fetch, u): i for i, u in enumerate(urls)}
        for fut in concurrent.futures.as_completed(futures):
            res[futures[fut]] = fut.result()
    return ""


def fetch_indexed(arg):
    i, url = arg
    return i, fetch(url)


def proc_status(pid, keys):
    """KiB values of keys from /proc/<pid>/status and smaps_rollup."""
    out = dict.fromkeys(keys, 0)
    for name in ("status", "smaps_rollup"):
        try:
            with open("/proc/%d/%s" % (pid, name)) as f:
                for line in f:
                    k = line.split(":")[0]
                    if k in out:
                        out[k] += int(line.split()[1])
        except OSError:
            pass
    return out


def by_procs(urls, w, res):
    import multiprocessing
    with multiprocessing.Pool(w) as pool:
        for i, r in pool.imap_unordered(fetch_indexed, enumerate(urls),
                                        chunksize=1):
            res[i] = r
        pids = [p.pid for p in pool._pool]
        workers = [proc_status(pid, ("VmHWM", "Private_Clean",
                                     "Private_Dirty")) for pid in pids]
    me = proc_status(os.getpid(), ("VmHWM",))["VmHWM"]
    private = sum(s["Private_Clean"] + s["Private_Dirty"] for s in workers)
    return " pool_kb=%d rss_sum_kb=%d" % (
        me + private, me + sum(s["VmHWM"] for s in workers))


def by_aiohttp(urls, w, res):
    import asyncio
    import aiohttp

    async def one(session, i):
        try:
            async with session.get(urls[i]) as r:
                n = 0
                async for b in r.content.iter_chunked(CHUNK):
                    n += len(b)
                res[i] = (r.status, n, "" if 200 <= r.status < 300 else
                          "http %d" % r.status)
        except Exception as e:
            res[i] = (0, 0, type(e).__name__ + ": " + str(e)[:80])

    async def main():
        conn = aiohttp.TCPConnector(limit=w, limit_per_host=0)
        timeout = aiohttp.ClientTimeout(total=TIMEOUT)
        async with aiohttp.ClientSession(connector=conn,
                                         timeout=timeout) as session:
            await asyncio.gather(*(one(session, i)
                                   for i in range(len(urls))))
    asyncio.run(main())
    return ""


def by_uvfetch(urls, w, res, keep_body=True):
    """The module as its users call it, results stored by index as they
    come (fetch()); bodies kept (Result.body) unless keep_body=False."""
    import time
    import uvfetch
    with uvfetch.Client(concurrency=w, timeout=TIMEOUT,
                        keep_body=keep_body) as client:
        cpu = time.process_time()  # the fetch alone, for bench/py_run
        for r in client.fetch(urls):
            res[r.index] = (r.status, r.bytes, "" if r.ok else r.error)
        cpu = time.process_time() - cpu
    return " fetch_cpu_us=%d" % (cpu * 1e6)


def by_uvfetch_nobody(urls, w, res):
    return by_uvfetch(urls, w, res, keep_body=False)


DESIGNS = {"threads": by_threads, "queue": by_queue, "pool": by_pool,
           "procs": by_procs, "aiohttp": by_aiohttp, "uvfetch": by_uvfetch,
           "uvfetch-nobody": by_uvfetch_nobody}


def args(argv):
    """DESIGN -w W -i FILE, by hand: argparse alone takes 11 ms to import,
    1% of a short run."""
    usage = "usage: py_designs.py {%s} -w W -i FILE" % ",".join(DESIGNS)
    try:
        design, opts = argv[0], dict(zip(argv[1::2], argv[2::2]))
        w = int(opts.get("-w", opts.get("-j", 50)))
        if design not in DESIGNS or "-i" not in opts or w < 1:
            raise ValueError
    except (IndexError, ValueError):
        sys.exit(usage)
    return design, w, opts["-i"]


def main():
    design, w, path = args(sys.argv[1:])
    with open(path) as f:
        urls = [line.strip() for line in f if line.strip()]
    res = [(0, 0, "not fetched")] * len(urls)
    extra = DESIGNS[design](urls, w, res)

    ok = sum(1 for s, _, e in res if not e and 200 <= s < 300)
    print("ok=%d total=%d bytes=%d%s" % (ok, len(urls),
                                          sum(n for _, n, _ in res), extra),
          flush=True)
    if ok != len(urls):
        import collections
        kinds = collections.Counter(e or "status %d" % s for s, _, e in res
                                    if e or not 200 <= s < 300)
        for err, count in kinds.most_common(8):
            print("failed: %d x %s" % (count, err), file=sys.stderr)
    return 0 if ok == len(urls) else 1


if __name__ == "__main__":
    sys.exit(main())
