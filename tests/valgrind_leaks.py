#!/usr/bin/python3
"""Reads memcheck logs (valgrind --leak-check=full) and fails on any definitely
lost block allocated through mod_pairest's code.  Usage: valgrind_leaks.py LOG..."""
import re
import sys


def module_leaks(text):
    """The 'definitely lost' records whose stack passes through the module."""
    out = []
    for rec in re.split(r"^==\d+== \n", text, flags=re.M):
        if "definitely lost" in rec and re.search(r"mod_pairest\.so|\bpai_\w+ \(", rec):
            out.append(rec.strip())
    return out


def main(paths):
    bad, summaries = [], []
    for path in paths:
        with open(path) as f:
            text = f.read()
        m = re.search(r"definitely lost: ([\d,]+) bytes in ([\d,]+) blocks", text)
        summaries.append("%s: %s" % (path, m.group(0) if m else "no leak summary"))
        if not m and "ERROR SUMMARY" not in text:
            bad.append("%s: valgrind did not finish (no summary)" % path)
        bad += module_leaks(text)
    print("\n".join(summaries))
    if bad:
        print("\n\n".join(bad))
        return 1
    print("valgrind: no definite leak from module code in %d process(es)" % len(paths))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
