"""Minimal TAP output for the Python tests (tests/runner.sh counts the lines)."""

import sys
import traceback


class Tap:
    def __init__(self):
        self.n = 0
        self.failed = 0

    def ok(self, cond, desc, diag=None):
        self.n += 1
        if cond:
            print("ok %d - %s" % (self.n, desc))
        else:
            self.failed += 1
            print("not ok %d - %s" % (self.n, desc))
            if diag:
                self.diag(diag)
        sys.stdout.flush()
        return bool(cond)

    def skip(self, desc, why):
        self.n += 1
        print("ok %d - %s # SKIP %s" % (self.n, desc, why))
        sys.stdout.flush()

    def diag(self, text):
        for line in str(text).splitlines():
            print("# " + line)
        sys.stdout.flush()

    def run(self, desc, fn):
        """ok if fn() returns truthy (or (truthy, diag)); not ok on exception."""
        try:
            r = fn()
        except Exception:
            return self.ok(False, desc, traceback.format_exc())
        if isinstance(r, tuple):
            return self.ok(r[0], desc, r[1])
        return self.ok(r, desc)

    def done(self):
        print("1..%d" % self.n)
        sys.stdout.flush()
        return 1 if self.failed else 0
