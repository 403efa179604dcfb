"""count.py: a Python test program for checkpoint/restart.

    python3 count.py [MAX]

Every 50 ms, tick N adds N to a list and N -> N*N to a dict, keeping the
last WINDOW entries of each (older ones are dropped), then checks the sums of
both against their closed forms and prints "tick N sum S ok" (S is the dict's
sum of squares), or "... BAD" on a mismatch. Every line is flushed. With MAX
> 0 it exits after tick MAX (status 1 if any tick was BAD).
"""
import sys
import time

WINDOW = 5000


def squares(n):
    """1*1 + 2*2 + ... + n*n."""
    return n * (n + 1) * (2 * n + 1) // 6


def main():
    limit = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    values = []
    table = {}
    status = 0
    n = 0
    while limit <= 0 or n < limit:
        n += 1
        values.append(n)
        table[n] = n * n
        if len(values) > WINDOW:
            old = values.pop(0)
            del table[old]
        lo = n - len(values)  # the window is lo+1 .. n
        want_list = n * (n + 1) // 2 - lo * (lo + 1) // 2
        want_dict = squares(n) - squares(lo)
        got_list = sum(values)
        got_dict = sum(table.values())
        ok = (got_list == want_list and got_dict == want_dict
              and len(table) == len(values) and values[-1] == n)
        if ok:
            print("tick %d sum %d ok" % (n, got_dict), flush=True)
        else:
            status = 1
            print("tick %d sum %d BAD want %d list %d want %d"
                  % (n, got_dict, want_dict, got_list, want_list), flush=True)
        if limit <= 0 or n < limit:
            time.sleep(0.05)
    return status


if __name__ == "__main__":
    sys.exit(main())
