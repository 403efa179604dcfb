"""mp_pool: a multiprocessing pool of three workers (fork start method)
squares 0..N-1 (default 300), 20 ms each, and sums the squares in order.

Prints "progress I" every ten results and, at the end, "result ok SUM"
(or "result BAD SUM"), checked against the sum computed directly.
"""
import multiprocessing as mp
import sys
import time


def work(n):
    time.sleep(0.02)
    return n * n


if __name__ == "__main__":
    mp.set_start_method("fork")
    N = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    total = 0
    with mp.Pool(3) as pool:
        for i, r in enumerate(pool.imap(work, range(N), chunksize=1)):
            total += r
            if i % 10 == 0:
                print("progress", i, flush=True)
    want = sum(n * n for n in range(N))
    print("result", "ok" if total == want else "BAD", total, flush=True)
