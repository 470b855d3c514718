"""asyncio: results through the call's file descriptor (loop.add_reader),
the loop never blocked, and cancelling the task cancels the call."""
import asyncio
import time

import uvfetch


def run(coro):
    return asyncio.run(coro)


def test_fetch_all_async_returns_results_in_input_order(server, client):
    urls = [server.url("/delay/%d?bytes=%d" % ((20 - i) * 4, i))
            for i in range(20)]
    results = run(client.fetch_all_async(urls))
    assert [r.url for r in results] == urls
    assert [r.bytes for r in results] == list(range(20))


def test_fetch_async_yields_results_as_they_complete(server, client):
    urls = [server.url("/delay/%d" % ms) for ms in (300, 1, 150)]

    async def main():
        return [r.index async for r in client.fetch_async(urls)]
    assert run(main()) == [1, 2, 0]


def test_the_event_loop_runs_while_a_call_waits(server, client):
    async def main():
        ticks = 0

        async def ticker():
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0.01)
        t = asyncio.create_task(ticker())
        results = await client.fetch_all_async([server.url("/delay/400")] * 3)
        t.cancel()
        return ticks, results
    ticks, results = run(main())
    assert all(r.ok for r in results)
    assert 10 <= ticks <= 60  # 400 ms of 10 ms sleeps; blocked: 1


def test_cancelling_the_task_cancels_the_call(server, client):
    server.reset()

    async def main():
        task = asyncio.create_task(client.fetch_all_async(
            [server.url("/stall?i=%d" % i) for i in range(30)]))
        await asyncio.sleep(0.3)
        t0 = time.monotonic()
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            return time.monotonic() - t0
        raise AssertionError("the task was not cancelled")
    took = run(main())
    assert 0 <= took < 0.1
    assert server.stats()["peak_in_flight"] == 30
    assert server.wait_idle(timeout=2.0) < 0.5
    assert client.fetch_all([server.url("/bytes/1")])[0].ok


def test_wait_for_timeout_cancels_the_call(server, client):
    async def main():
        try:
            await asyncio.wait_for(client.fetch_all_async(
                [server.url("/stall?i=%d" % i) for i in range(10)]), 0.2)
        except asyncio.TimeoutError:
            return
        raise AssertionError("no timeout")
    run(main())
    assert server.wait_idle(timeout=2.0) < 0.5


def test_break_out_of_fetch_async_cancels_the_rest(server, client):
    async def main():
        async with client.fetch_async(
                [server.url("/delay/1")] +
                [server.url("/stall?i=%d" % i) for i in range(10)]) as it:
            async for r in it:
                return r
    r = run(main())
    assert r.index == 0 and r.ok
    assert server.wait_idle(timeout=2.0) < 0.5


def test_an_async_iterable_feeds_the_call(server, client):
    async def urls():
        for i in range(200):
            if i % 50 == 0:
                await asyncio.sleep(0.01)
            yield server.url("/bytes/%d?i=%d" % (i % 7, i))

    async def main():
        got = {}
        async for r in client.fetch_async(urls(), concurrency=5):
            got[r.index] = r
        return got
    got = run(main())
    assert sorted(got) == list(range(200))
    assert all(r.ok and r.bytes == i % 7 for i, r in got.items())


def test_an_async_iterable_error_reaches_the_reader(server, client):
    async def urls():
        yield server.url("/bytes/1")
        await asyncio.sleep(0.05)
        raise OSError("source broke")

    async def main():
        async for _ in client.fetch_async(urls()):
            pass
    try:
        run(main())
    except OSError as e:
        assert str(e) == "source broke"
    else:
        raise AssertionError("the source's error was lost")


def test_fetch_all_async_deadline_gives_every_url_a_result(server):
    urls = [server.url("/delay/1")] + [server.url("/delay/5000?i=%d" % i)
                                       for i in range(40)]

    async def call():
        return await uvfetch.fetch_all_async(urls, concurrency=4,
                                             deadline=0.3)
    t0 = time.monotonic()
    results = run(call())
    assert 0.28 <= time.monotonic() - t0 <= 1.0
    assert [r.index for r in results] == list(range(41))
    assert results[0].ok
    assert {r.error for r in results[1:]} == {"deadline"}
