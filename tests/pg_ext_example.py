#!/usr/bin/python3
"""tests/pg_ext_example.py - the psql sessions of a man page section, as steps.

    pg_ext_example.py extract PAGE SECTION OUTDIR
        Writes OUTDIR/NNN.server, NNN.sql, NNN.expect for each statement of
        the section's .EX/.EE blocks: a line "NAME=# SQL" starts a statement
        on server NAME, "NAME-# ..." lines continue it, the lines that follow
        (up to the next prompt or the block's end) are what psql -At prints.
        A line "$ COMMAND" becomes a step whose server is "$" (the shell
        command, for the test to run or replace). Prints the number of steps.
    pg_ext_example.py match EXPECT ACTUAL
        Exit 0 when ACTUAL (psql's output) matches EXPECT: line by line, with
        "..." in a line matching any text, and a line that is only "..."
        matching any number of lines. Prints the first difference otherwise.
"""
import os
import re
import sys


def roff_plain(line):
    for a, b in ((r"\(aq", "'"), (r"\(dq", '"'), (r"\-", "-"), (r"\&", ""), (r"\e", "\\")):
        line = line.replace(a, b)
    return line


def extract(page, section, outdir):
    lines = open(page, encoding="utf-8").read().split("\n")
    in_sec = in_ex = False
    steps = []
    prompt = re.compile(r"^([A-Za-z0-9_]+)([=-])# ?(.*)$")
    for raw in lines:
        if raw.startswith(".SH "):
            in_sec = raw[4:].strip().strip('"') == section
            continue
        if not in_sec:
            continue
        if raw.startswith(".EX"):
            in_ex, cur = True, None
            continue
        if raw.startswith(".EE"):
            in_ex, cur = False, None
            continue
        if not in_ex:
            continue
        line = roff_plain(raw)
        m = prompt.match(line)
        if m and m.group(2) == "=":
            cur = {"server": m.group(1), "sql": [m.group(3)], "expect": []}
            steps.append(cur)
        elif m and m.group(2) == "-" and cur is not None and not cur["expect"]:
            cur["sql"].append(m.group(3))
        elif line.startswith("$ "):
            cur = {"server": "$", "sql": [line[2:]], "expect": []}
            steps.append(cur)
        elif cur is not None:
            cur["expect"].append(line)
    os.makedirs(outdir, exist_ok=True)
    for i, s in enumerate(steps, 1):
        base = os.path.join(outdir, "%03d" % i)
        open(base + ".server", "w").write(s["server"] + "\n")
        open(base + ".sql", "w").write("\n".join(s["sql"]) + "\n")
        open(base + ".expect", "w").write("".join(e + "\n" for e in s["expect"]))
    print(len(steps))


def line_re(e):
    return re.compile("^" + ".*".join(re.escape(p) for p in e.split("...")) + "$")


def match(exp, act):
    if not exp:
        return not act
    if exp[0] == "...":
        return any(match(exp[1:], act[i:]) for i in range(len(act) + 1))
    return bool(act) and bool(line_re(exp[0]).match(act[0])) and match(exp[1:], act[1:])


def main():
    if len(sys.argv) == 5 and sys.argv[1] == "extract":
        extract(sys.argv[2], sys.argv[3], sys.argv[4])
        return 0
    if len(sys.argv) == 4 and sys.argv[1] == "match":
        exp = open(sys.argv[2], encoding="utf-8").read().splitlines()
        act = open(sys.argv[3], encoding="utf-8").read().splitlines()
        if match(exp, act):
            return 0
        for i, e in enumerate(exp):
            a = act[i] if i < len(act) else "<end>"
            if e == "..." or not line_re(e).match(a):
                print("expected line %d: %s\ngot: %s" % (i + 1, e[:200], a[:200]))
                break
        return 1
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main())
