#!/usr/bin/env python3
"""Judge of the fault tests: holds the final trees of the nodes against the
writers' ledgers (written by tests/tools/fswriter) and the fault log.

  fault-judge.py dump DIR
      one line per entry below DIR, sorted: "PATH d" for a directory,
      "PATH f SIZE HASH" for a file (HASH: 64-bit FNV-1a, as fswriter's),
      "PATH ! ERRNO" for one that cannot be read.

  fault-judge.py judge --ledger FILE... --faults FILE --rounds FILE
                       --keys K [--grace S] NODE=DUMP...
      prints every violation found and ends with one summary line:
      "judge: lost N phantom N stale N divergent N unexplained N vacuous N
      (ops: N acknowledged, N unknown, N refused)"; exit 1 if any count
      but the ops is not zero.

Outcomes of an operation (from its ledger line): "ok" is acknowledged;
EIO is "outcome unknown" (the node was cut off with the op in flight), and
so is ECONNABORTED (the kernel's answer for a request its FUSE daemon had
not answered when it died) and ENOTCONN at close (the writes before it may
have been sent); a short write is unknown too. Any other error is a
refusal: what that call would have done must not show up anywhere.

Violations:
  lost        an acknowledged write missing or with other content on a node
              (a create, a key that vanished, the temporary file of a
              rename that was refused, or still there after an acknowledged
              rename)
  phantom     content that only a refused call could have put there (the
              temporary file of a refused rename gone counts: the rename
              was applied), or that no operation wrote, or a file no
              operation names
  stale       a shared key whose final value was written by an op that
              ended before an acknowledged write of that key started
  divergent   a path whose state differs between nodes
  unexplained an error with no fault in the GRACE seconds (default 10)
              before the op started, nor during it
  vacuous     a round in which a node acknowledged no write, or no write
              of some kind was acknowledged at all
"""

import os
import sys

UNKNOWN_ERRNOS = {"EIO", "ECONNABORTED"}
KINDS = ("create", "rename", "pwrite")


def fnv1a(data):
    h = 14695981039346656037
    for b in data:
        h ^= b
        h = (h * 1099511628211) & 0xFFFFFFFFFFFFFFFF
    return "%016x" % h


def dump(top):
    out = []
    for root, dirs, files in os.walk(top):
        dirs.sort()
        for d in dirs:
            out.append("%s d" % os.path.relpath(os.path.join(root, d), top))
        for f in files:
            p = os.path.join(root, f)
            rel = os.path.relpath(p, top)
            try:
                with open(p, "rb") as fh:
                    data = fh.read()
                out.append("%s f %d %s" % (rel, len(data), fnv1a(data)))
            except OSError as e:
                out.append("%s ! %s" % (rel, __import__("errno").errorcode.get(e.errno, str(e.errno))))
    for line in sorted(out):
        print(line)


class Op:
    __slots__ = ("node", "seq", "kind", "key", "start", "end", "result", "step", "size", "hash")

    def outcome(self):
        if self.result == "ok":
            return "ok"
        if self.result in UNKNOWN_ERRNOS or self.step.startswith("short"):
            return "unknown"
        if self.result == "ENOTCONN" and self.step == "close":
            return "unknown"
        return "refused"

    def name(self):
        return "%s %s of %s (%s..%s, %s%s)" % (
            self.kind, self.seq, self.node, fmt_t(self.start), fmt_t(self.end),
            self.result, "" if self.step == "-" else " at " + self.step)


T0 = [0]


def fmt_t(us):
    return "%.3fs" % ((us - T0[0]) / 1e6)


def read_ledgers(paths):
    ops, started = {}, {}
    for p in paths:
        with open(p) as fh:
            for n, line in enumerate(fh, 1):
                f = line.split()
                if not f:
                    continue
                if f[0] == "S" and len(f) == 6:
                    started[(f[1], f[2])] = f
                elif f[0] == "E" and len(f) == 11:
                    o = Op()
                    o.node, o.seq, o.kind, o.key = f[1], f[2], f[3], f[4]
                    o.start, o.end = int(f[5]), int(f[6])
                    o.result, o.step, o.size, o.hash = f[7], f[8], int(f[9]), f[10]
                    ops[(o.node, o.seq)] = o
                else:
                    sys.exit("fault-judge: %s:%d: not a ledger line: %s" % (p, n, line.rstrip()))
    # an op started but never ended (its writer was stopped in the middle):
    # its outcome is unknown
    for k, f in started.items():
        if k not in ops:
            o = Op()
            o.node, o.seq, o.kind, o.key = f[1], f[2], f[3], f[4]
            o.start = o.end = int(f[5])
            o.result, o.step, o.size, o.hash = "EIO", "unfinished", -1, "-"
            ops[k] = o
    return ops


def read_dump(path):
    state = {}
    with open(path) as fh:
        for line in fh:
            f = line.split()
            if len(f) >= 2:
                state[f[0]] = tuple(f[1:])
    return state


def read_intervals(path, tag):
    out = []
    with open(path) as fh:
        for line in fh:
            f = line.split(None, 4)
            if len(f) >= 4 and f[0] == tag:
                out.append((int(f[2]), int(f[3]), f[1], f[4].strip() if len(f) > 4 else ""))
    return out


class Report:
    def __init__(self):
        self.found = {}  # (category, message) -> [nodes]
        self.order = []

    def add(self, cat, msg, node=None):
        k = (cat, msg)
        if k not in self.found:
            self.found[k] = []
            self.order.append(k)
        if node:
            self.found[k].append(node)

    def count(self, cat):
        return sum(1 for c, _ in self.order if c == cat)

    def print(self):
        for cat, msg in self.order:
            nodes = self.found[(cat, msg)]
            print("%s: %s%s" % (cat.upper(), msg, " (on %s)" % ",".join(nodes) if nodes else ""))


def judge(args):
    ledgers, states, faults, rounds, keys, grace = [], {}, None, None, None, 10.0
    i = 0
    while i < len(args):
        a = args[i]
        if a in ("--ledger", "--faults", "--rounds", "--keys", "--grace"):
            if i + 1 >= len(args):
                sys.exit("fault-judge: %s needs a value" % a)
            v = args[i + 1]
            if a == "--ledger":
                ledgers.append(v)
            elif a == "--faults":
                faults = v
            elif a == "--rounds":
                rounds = v
            elif a == "--keys":
                keys = int(v)
            else:
                grace = float(v)
            i += 2
        elif "=" in a:
            n, p = a.split("=", 1)
            states[n] = read_dump(p)
            i += 1
        else:
            sys.exit("fault-judge: unknown argument %s" % a)
    if not ledgers or not states or faults is None or rounds is None or keys is None:
        sys.exit("usage: fault-judge.py judge --ledger FILE... --faults FILE --rounds FILE "
                 "--keys K [--grace S] NODE=DUMP...")

    ops = read_ledgers(ledgers)
    fault_iv = read_intervals(faults, "F")
    round_iv = read_intervals(rounds, "R")
    if ops:
        T0[0] = min(o.start for o in ops.values())
    rep = Report()

    by_hash = {}
    for o in ops.values():
        if o.kind in ("init", "rename", "pwrite"):
            by_hash[o.hash] = o
    creates = {"c/%s-%s" % (o.node, o.seq): o for o in ops.values() if o.kind == "create"}
    temps = {"t/%s-%s" % (o.node, o.seq): o for o in ops.values() if o.kind == "rename"}
    key_paths = ["k/k%d" % k for k in range(keys)]
    # acknowledged writes of each key, latest start first
    acked = {}
    for o in ops.values():
        # a pwrite whose file was replaced meanwhile wrote to that file
        # alone (step "replaced"): no value of the key to keep
        if o.kind in ("init", "rename", "pwrite") and o.outcome() == "ok" and o.step != "replaced":
            acked.setdefault("k/" + o.key, []).append(o)
    for v in acked.values():
        v.sort(key=lambda o: -o.start)

    def file_state(st, path):
        e = st.get(path)
        if e is None:
            return "absent", None
        if e[0] == "f" and len(e) == 3:
            return ("empty" if e[1] == "0" else "content"), e[2]
        return "other", " ".join(e)

    def created_file(node, st, path, o, phase_outcome, phase_step, what):
        """the file a create (or the first half of a rename) made"""
        s, h = file_state(st, path)
        if s == "content" and h == o.hash:
            s = "its"
        if phase_outcome == "ok":
            if s != "its":
                rep.add("lost", "%s: %s acknowledged, but the file is %s" % (
                    path, o.name(), s if s != "content" else "there with other content"), node)
            return
        allowed = {"absent"}
        if phase_step != "open":
            allowed.add("empty")  # the create itself was ordered
        if phase_outcome == "unknown":
            allowed.update({"empty", "its"})
        if s not in allowed:
            cat = "phantom"
            rep.add(cat, "%s: %s, but the file is %s" % (
                path, o.name(), {"its": "there with the content it was refused",
                                 "empty": "there (empty)", "content": "there with other content",
                                 "other": "not a readable file"}.get(s, s)), node)

    for node, st in sorted(states.items()):
        # every file is named by an op
        for path, e in st.items():
            if path in ("c", "t", "k"):
                continue
            if path in creates or path in temps or path in key_paths:
                continue
            rep.add("phantom", "%s: %s, written by no operation of the ledgers" % (
                path, "a directory" if e[0] == "d" else "a file"), node)
        for p in ("c", "t", "k"):
            if st.get(p, ("",))[0] != "d":
                rep.add("lost", "%s: the directory is missing" % p, node)

        for path, o in creates.items():
            out = o.outcome()
            created_file(node, st, path, o, out, o.step, "create")

        final_hash = {}
        for kp in key_paths:
            s, h = file_state(st, kp)
            if s != "content":
                rep.add("lost", "%s: the shared key is %s" % (kp, s), node)
                continue
            final_hash[kp] = h

        for path, o in temps.items():
            kp = "k/" + o.key
            out = o.outcome()
            if o.step in ("open", "write", "short-write", "close", "unfinished") and out != "ok":
                # the temporary file failed: the rename was never called
                created_file(node, st, path, o, out, o.step, "rename")
                if final_hash.get(kp) == o.hash and o.step != "unfinished":
                    rep.add("phantom", "%s: holds the value of %s, which never renamed" % (
                        kp, o.name()), node)
                continue
            s, h = file_state(st, path)
            mine = s == "content" and h == o.hash
            if out == "ok":
                if s != "absent":
                    rep.add("lost", "%s: %s acknowledged, but its temporary file is still there" % (
                        path, o.name()), node)
            elif out == "refused":
                if s == "absent":
                    rep.add("phantom", "%s: %s, but its temporary file is gone: the rename was "
                            "applied" % (path, o.name()), node)
                elif not mine:
                    rep.add("lost", "%s: its rename was refused (%s), so the written temporary file "
                            "must stay, but it is %s" % (path, o.name(), s), node)
                if final_hash.get(kp) == o.hash:
                    rep.add("phantom", "%s: holds the value of %s, a refused rename" % (
                        kp, o.name()), node)
            else:
                if not mine and s != "absent":
                    rep.add("phantom", "%s: %s, but its temporary file is %s with other content" % (
                        path, o.name(), s), node)

        for kp, h in final_hash.items():
            f = by_hash.get(h)
            if f is None or "k/" + f.key != kp:
                rep.add("phantom", "%s: its value (hash %s) was written by no operation on it" % (
                    kp, h), node)
                continue
            if f.outcome() == "refused":
                rep.add("phantom", "%s: its value was written by %s, which was refused" % (
                    kp, f.name()), node)
            later = [a for a in acked.get(kp, []) if a.start > f.end]
            if later:
                rep.add("stale", "%s: its value is that of %s, but %s started after it ended "
                        "(and %d more acknowledged writes of it)" % (
                            kp, f.name(), later[0].name(), len(later) - 1), node)

    # identical trees: every path in the same state on every node
    names = sorted(states)
    paths = set()
    for st in states.values():
        paths.update(st)
    for path in sorted(paths):
        seen = {}
        for n in names:
            seen.setdefault(states[n].get(path, ("absent",)), []).append(n)
        if len(seen) > 1:
            rep.add("divergent", "%s differs: %s" % (path, "; ".join(
                "%s on %s" % (" ".join(v), ",".join(ns)) for v, ns in seen.items())))

    # every error has a fault near it
    g = int(grace * 1e6)
    for o in sorted(ops.values(), key=lambda o: o.start):
        if o.result == "ok" or o.kind == "init":
            continue
        if not any(a <= o.end and b >= o.start - g for a, b, _, _ in fault_iv):
            rep.add("unexplained", "%s: no fault in the %gs before it" % (o.name(), grace))

    # not vacuous: in every round every node and every kind acknowledged
    nodes = sorted({o.node for o in ops.values() if o.kind != "init"})
    for a, b, r, desc in round_iv:
        inside = [o for o in ops.values() if o.result == "ok" and a <= o.end <= b and o.kind != "init"]
        for n in nodes:
            if not any(o.node == n for o in inside):
                rep.add("vacuous", "round %s (%s): %s acknowledged no write" % (r, desc, n))
        for k in KINDS:
            if not any(o.kind == k for o in inside):
                rep.add("vacuous", "round %s (%s): no %s was acknowledged" % (r, desc, k))
    if not round_iv:
        rep.add("vacuous", "no round was recorded")

    rep.print()
    outs = [o.outcome() for o in ops.values() if o.kind != "init"]
    cats = ("lost", "phantom", "stale", "divergent", "unexplained", "vacuous")
    print("judge: %s (ops: %d acknowledged, %d unknown, %d refused; %d rounds, %d faults)" % (
        " ".join("%s %d" % (c, rep.count(c)) for c in cats),
        outs.count("ok"), outs.count("unknown"), outs.count("refused"), len(round_iv), len(fault_iv)))
    return 1 if any(rep.count(c) for c in cats) else 0


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "dump":
        dump(sys.argv[2])
        return 0
    if len(sys.argv) > 1 and sys.argv[1] == "judge":
        return judge(sys.argv[2:])
    print(__doc__.strip().split("\n\n")[1], file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
