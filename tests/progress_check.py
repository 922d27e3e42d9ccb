#!/usr/bin/python3
"""tests/progress_check.py - checks a --progress=json stderr capture (not a test itself).

    progress_check.py STDERR_FILE STAGE TOTAL[,TOTAL...]

Used by tests/cli_index.sh, cli_locate.sh and cli_eval.sh. Passes (exit 0)
when, as transgeo(1) PROGRESS says:
  - every line starting with '{' parses with Python's json module into an
    object with exactly done, total, stage, item, items, message; stage is
    STAGE, message a string or null;
  - items = the number of TOTALs, every item 1..items appears, in order,
    each with total = its TOTAL (the caller's independent count);
  - within an item done never decreases and stays within 0..total, and the
    item's last line has done = total.
Otherwise prints what is wrong and exits 1. Lines not starting with '{' are
messages and are ignored.
"""
import json
import sys


def main():
    path, stage, totals = sys.argv[1], sys.argv[2], [float(t) for t in sys.argv[3].split(',')]
    objs = []
    with open(path, encoding='utf-8') as f:
        for n, line in enumerate(f, 1):
            if not line.startswith('{'):
                continue
            try:
                objs.append((n, json.loads(line)))
            except ValueError as e:
                return fail('line %d is not JSON (%s): %r' % (n, e, line))
    if not objs:
        return fail('no progress line')
    keys = {'done', 'total', 'stage', 'item', 'items', 'message'}
    last = {}
    for n, o in objs:
        if not isinstance(o, dict) or set(o) != keys:
            return fail('line %d: keys %s, want %s' % (n, sorted(o) if isinstance(o, dict) else o, sorted(keys)))
        if o['stage'] != stage or not (o['message'] is None or isinstance(o['message'], str)):
            return fail('line %d: stage %r (want %r), message %r' % (n, o['stage'], stage, o['message']))
        if o['items'] != len(totals) or not 1 <= o['item'] <= len(totals):
            return fail('line %d: item %r of %r, want 1..%d' % (n, o['item'], o['items'], len(totals)))
        item = o['item']
        if any(i > item for i in last):
            return fail('line %d: item %d after item %d' % (n, item, max(last)))
        if o['total'] != totals[item - 1] or not 0 <= o['done'] <= o['total']:
            return fail('line %d: done %r of total %r, want total %r' % (n, o['done'], o['total'], totals[item - 1]))
        if item in last and o['done'] < last[item]:
            return fail('line %d: done went back from %r to %r' % (n, last[item], o['done']))
        last[item] = o['done']
    for i, t in enumerate(totals, 1):
        if last.get(i) != t:
            return fail('item %d: last done %r, want %r' % (i, last.get(i), t))
    return 0


def fail(msg):
    print('progress_check: ' + msg)
    return 1


if __name__ == '__main__':
    sys.exit(main())
