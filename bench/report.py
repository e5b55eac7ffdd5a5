#!/usr/bin/python3
"""Turns courier-bench JSON lines into the markdown tables of docs/benchmarks.md.

    bench/report.py results.jsonl                      # markdown to stdout
    bench/report.py results.jsonl --update docs/benchmarks.md
                                                       # replace what lies between the markers
                                                       # <!-- results:begin --> and <!-- results:end -->
    bench/report.py results.jsonl --also run2.jsonl run3.jsonl
                                                       # add the target ratios of other runs

Python 3 standard library only. Every figure is the median of the rounds, with [min-max]. Ratios are medians of per-round
ratios: implementations take turns round by round, so round i of one and round i of another ran
moments apart, and pairing them cancels most of the machine's drift. The targets are those of
the throughput issue.
"""

import argparse
import json
import sys

TRANSPORTS = ["tcp", "ipc", "inproc"]
SIZES = [16, 256, 4096, 65536]
BEGIN, END = "<!-- results:begin -->", "<!-- results:end -->"


def load(path):
    meta, summary, cases = {}, {}, []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            d = json.loads(line)
            kind = d.get("record", "case")
            if kind == "meta":
                meta = d
            elif kind == "summary":
                summary = d
            else:
                cases.append(d)
    return meta, summary, cases


def find(cases, **want):
    for c in cases:
        if all(c.get(k) == v for k, v in want.items()):
            return c
    return None


def rate(v):
    if v is None:
        return "-"
    if v >= 1e6:
        return f"{v / 1e6:.2f}M"
    if v >= 1e3:
        return f"{v / 1e3:.0f}k"
    return f"{v:.0f}"


def rate_cell(c, with_mb=False):
    if c is None:
        return "-"
    if c.get("messages_per_s") is None:
        return "failed" if c.get("errors") else "-"
    cell = f"{rate(c['messages_per_s'])} [{rate(c['min'])}-{rate(c['max'])}]"
    if with_mb and c.get("mb_per_s") is not None:
        cell += f" {c['mb_per_s']:.0f} MB/s"
    return cell + flags(c)


def flags(c):
    out = ""
    if c.get("lost"):
        out += f" **lost {c['lost']}**"
    if c.get("errors"):
        out += " **errors**"
    return out


def median(values):
    v = sorted(values)
    n = len(v)
    if n == 0:
        return None
    return v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2


def ratio(a, b):
    """Throughput ratio a / b: the median of the per-round ratios. Implementations of a scenario
    take turns round by round, so round i of a and round i of b ran seconds apart; pairing them
    cancels most of the machine's drift. Falls back to the ratio of medians."""
    if not a or not b or a.get("messages_per_s") in (None, 0) or b.get("messages_per_s") in (None, 0):
        return None
    va, vb = a.get("values") or [], b.get("values") or []
    pairs = [x / y for x, y in zip(va, vb) if x and y]
    if pairs and len(va) == len(vb):
        return median(pairs)
    return a["messages_per_s"] / b["messages_per_s"]


def fmt_ratio(r, target=None):
    """Two decimals, or three where two would round a miss onto the target (0.899 is not 0.90)."""
    text = f"{r:.2f}"
    if target is not None and text == f"{target:.2f}" and r != target:
        text = f"{r:.3f}"
    return text + "x"


def ratio_cell(r, target, higher_is_better=True):
    if r is None:
        return "-"
    ok = r >= target if higher_is_better else r <= target
    return f"{fmt_ratio(r, target)} {'✅' if ok else '❌'}"


def size_label(n):
    return f"{n // 1024} KiB" if n >= 1024 else f"{n} B"


class Targets:
    """Collects every target check, for the summary at the top."""

    def __init__(self):
        self.rows = []

    def add(self, name, what, value, target, higher_is_better=True):
        if value is None:
            return
        ok = value >= target if higher_is_better else value <= target
        self.rows.append((name, what, value, target, higher_is_better, ok))

    def summary(self):
        lines = ["| target | checks met | worst case |", "|---|---|---|"]
        names = []
        for r in self.rows:
            if r[0] not in names:
                names.append(r[0])
        for name in names:
            rows = [r for r in self.rows if r[0] == name]
            met = sum(1 for r in rows if r[5])
            hib = rows[0][4]
            worst = min(rows, key=lambda r: r[2]) if hib else max(rows, key=lambda r: r[2])
            lines.append(f"| {name} | {met} / {len(rows)} | {worst[1]}: {fmt_ratio(worst[2], worst[3])} |")
        return lines


def throughput_table(cases, pattern, impls, targets):
    lines = []
    head = ["transport", "size"] + impls + ["courier-bytes / zmq", "courier-raw / zmq", "target"]
    lines.append("| " + " | ".join(head) + " |")
    lines.append("|" + "---|" * len(head))
    for tr in TRANSPORTS:
        for size in SIZES:
            row = {i: find(cases, suite="throughput", pattern=pattern, transport=tr, size=size, implementation=i)
                   for i in impls}
            if not any(row.values()):
                continue
            target = 0.90 if size <= 256 else 0.95
            r = ratio(row.get("courier-bytes"), row.get("zmq"))
            rr = ratio(row.get("courier-raw"), row.get("zmq"))
            band = "16-256 B" if size <= 256 else "4 KiB+"
            targets.add(f"courier raw bytes (bytes_view in an envelope) >= {target:.2f}x raw libzmq ({band})",
                        f"{pattern} {tr} {size_label(size)}", r, target)
            targets.add(f"courier raw frames (push_raw / publish_raw) >= {target:.2f}x raw libzmq ({band})",
                        f"{pattern} {tr} {size_label(size)}", rr, target)
            cells = [tr, size_label(size)] + [rate_cell(row[i], with_mb=True) for i in impls]
            cells += [ratio_cell(r, target), ratio_cell(rr, target), f">= {target:.2f}x"]
            lines.append("| " + " | ".join(cells) + " |")
    return lines


def median_ratio(a, b):
    """a / b for cases of different scenarios (not run round by round together): the ratio of
    the medians."""
    if not a or not b or not a.get("messages_per_s") or not b.get("messages_per_s"):
        return None
    return a["messages_per_s"] / b["messages_per_s"]


def typed_table(cases, targets):
    impls = ["zmq-16B", "zmq-msgpack", "courier-typed", "courier-batched", "courier-batched-4threads"]
    present = [i for i in impls if any(c["suite"] == "typed" and c["implementation"] == i for c in cases)]
    head = (["pattern", "transport"] + present +
            ["typed / msgpack", "batched / msgpack", "batched / raw zmq 16 B", "4 threads / 1"])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for pattern in ["pushpull", "pubsub"]:
        for tr in TRANSPORTS:
            row = {i: find(cases, suite="typed", pattern=pattern, transport=tr, implementation=i) for i in present}
            if not any(row.values()):
                continue
            r = ratio(row.get("courier-typed"), row.get("zmq-msgpack"))
            targets.add("courier typed unbatched >= 0.90x a msgpack struct per libzmq frame", f"{pattern} {tr}", r, 0.90)
            rb = ratio(row.get("courier-batched"), row.get("zmq-msgpack"))
            # Logical typed messages, batched, against raw libzmq's unbatched 16 B messages of the
            # same pattern and transport (another scenario: the ratio of the medians).
            # Paired round by round with "zmq-16B", which runs in the typed scenario for this; older
            # runs without it fall back to the throughput suite's 16 B case (ratio of medians).
            raw = find(cases, suite="typed", pattern=pattern, transport=tr, implementation="zmq-16B")
            r16 = ratio(row.get("courier-batched"), raw)
            if raw is None:
                raw = find(cases, suite="throughput", pattern=pattern, transport=tr, size=16, implementation="zmq")
                r16 = median_ratio(row.get("courier-batched"), raw)
            if tr == "tcp":
                targets.add("courier typed batched >= 2x raw libzmq 16 B messages/s (tcp)", f"{pattern} {tr}", r16, 2.0)
            r4 = ratio(row.get("courier-batched-4threads"), row.get("courier-batched"))
            targets.add("4 threads through one batching publisher >= 0.80x one thread", f"{pattern} {tr}", r4, 0.80)
            cells = [pattern, tr] + [rate_cell(row[i]) for i in present]
            cells += [ratio_cell(r, 0.90), f"{rb:.2f}x" if rb is not None else "-",
                      (ratio_cell(r16, 2.0) if tr == "tcp" else f"{r16:.2f}x") if r16 is not None else "-",
                      ratio_cell(r4, 0.80) if r4 is not None else "-"]
            lines.append("| " + " | ".join(cells) + " |")
    return lines


def latency_cell(c):
    if c is None or c.get("p50_us") is None:
        return "-" if c is None else "failed"
    return (f"{c['p50_us']:.1f} [{c['min']:.1f}-{c['max']:.1f}] / "
            f"{c['p99_us']:.1f} [{c.get('p99_us_min', 0):.1f}-{c.get('p99_us_max', 0):.1f}]" + flags(c))


def latency_ratio(a, b, values_key, median_key):
    """Latency ratio a / b: the median of per-round ratios, as for throughput."""
    if not a or not b or not a.get(median_key) or not b.get(median_key):
        return None
    va, vb = a.get(values_key) or [], b.get(values_key) or []
    pairs = [x / y for x, y in zip(va, vb) if x and y]
    if pairs and len(va) == len(vb):
        return median(pairs)
    return a[median_key] / b[median_key]


def reqrep_table(cases, targets):
    impls = ["zmq", "nng", "courier"]
    head = (["transport"] + [f"{i} p50 / p99 (µs)" for i in impls] +
            ["courier − zmq p50", "courier / zmq p50", "courier / zmq p99"])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for tr in TRANSPORTS:
        row = {i: find(cases, suite="reqrep", transport=tr, implementation=i) for i in impls}
        if not any(row.values()):
            continue
        c, z = row.get("courier"), row.get("zmq")
        r50 = latency_ratio(c, z, "values", "p50_us")
        r99 = latency_ratio(c, z, "p99_values", "p99_us")
        targets.add("courier request-reply p50 <= 1.15x raw REQ/REP", tr, r50, 1.15, higher_is_better=False)
        targets.add("courier request-reply p99 <= 1.30x raw REQ/REP", tr, r99, 1.30, higher_is_better=False)
        cells = [tr] + [latency_cell(row[i]) for i in impls]
        diff = f"{c['p50_us'] - z['p50_us']:+.1f} µs" if c and z and c.get("p50_us") and z.get("p50_us") else "-"
        cells += [diff, ratio_cell(r50, 1.15, False), ratio_cell(r99, 1.30, False)]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def pingpong_table(cases, targets):
    impls = ["courier-pingpong", "courier-pingpong-batched"]
    head = ["transport", "unbatched p50 / p99 (µs)", "batched p50 / p99 (µs)", "batched / unbatched p50"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for tr in TRANSPORTS:
        row = {i: find(cases, suite="reqrep", transport=tr, implementation=i) for i in impls}
        if not any(row.values()):
            continue
        u, b = row.get("courier-pingpong"), row.get("courier-pingpong-batched")
        r50 = latency_ratio(b, u, "values", "p50_us")
        targets.add("batching at low load adds <= 10% to p50 (ping-pong)", tr, r50, 1.10, higher_is_better=False)
        lines.append("| " + " | ".join([tr, latency_cell(u), latency_cell(b), ratio_cell(r50, 1.10, False)]) + " |")
    return lines


def fanout_table(cases):
    impls = ["zmq", "courier-bytes"]
    head = ["transport", "subscribers"] + [f"{i} deliveries/s" for i in impls] + ["courier / zmq"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for tr in TRANSPORTS:
        for subs in [1, 8, 32]:
            row = {i: find(cases, suite="fanout", transport=tr, subscribers=subs, implementation=i) for i in impls}
            if not any(row.values()):
                continue
            r = ratio(row.get("courier-bytes"), row.get("zmq"))
            cells = [tr, str(subs)] + [rate_cell(row[i]) for i in impls] + [f"{r:.2f}x" if r else "-"]
            lines.append("| " + " | ".join(cells) + " |")
    return lines


def connections_table(cases, targets):
    impls = ["zmq", "nng", "courier-bytes"]
    head = ["transport", "implementation", "1 connection", "64 connections", "64 / 1", "target", "at 64: / zmq"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for tr in TRANSPORTS:
        for i in impls:
            one = find(cases, suite="connections", transport=tr, connections=1, implementation=i)
            many = find(cases, suite="connections", transport=tr, connections=64, implementation=i)
            if not one and not many:
                continue
            r = ratio(many, one)
            if i == "courier-bytes":
                targets.add("courier 64 connections within 20% of 1 (64/1 >= 0.80x)", tr, r, 0.80)
            z64 = find(cases, suite="connections", transport=tr, connections=64, implementation="zmq")
            vs = ratio(many, z64) if i != "zmq" else None
            cells = [tr, i, rate_cell(one), rate_cell(many), ratio_cell(r, 0.80) if i == "courier-bytes" else
                     (f"{r:.2f}x" if r else "-"), ">= 0.80x" if i == "courier-bytes" else "",
                     f"{vs:.2f}x" if vs else ""]
            lines.append("| " + " | ".join(cells) + " |")
    return lines


def cpu_cell(c):
    if c is None or c.get("sender_cpu_ns_per_msg") is None:
        return "-"
    return f"{c['sender_cpu_ns_per_msg']:.0f} / {c['receiver_cpu_ns_per_msg']:.0f}"


def cpu_table(cases):
    rows = []
    for pattern in ["pushpull", "pubsub"]:
        for tr in TRANSPORTS:
            for size in [16, 256, 4096]:
                rows.append(("throughput", pattern, tr, size, "zmq", "courier-bytes"))
    for pattern in ["pushpull", "pubsub"]:
        for tr in TRANSPORTS:
            rows.append(("typed", pattern, tr, 32, "zmq-msgpack", "courier-typed"))
    for pattern in ["pushpull", "pubsub"]:
        for tr in TRANSPORTS:
            rows.append(("typed", pattern, tr, 32, "zmq-msgpack", "courier-batched"))
    head = ["case", "baseline", "baseline send / receive", "courier", "courier send / receive", "courier / baseline",
            "courier-raw send / receive"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for suite, pattern, tr, size, base, ours in rows:
        b = find(cases, suite=suite, pattern=pattern, transport=tr, size=size, implementation=base)
        c = find(cases, suite=suite, pattern=pattern, transport=tr, size=size, implementation=ours)
        if not b and not c:
            continue
        rel = "-"
        if b and c and b.get("sender_cpu_ns_per_msg") and c.get("sender_cpu_ns_per_msg"):
            rel = (f"{c['sender_cpu_ns_per_msg'] / b['sender_cpu_ns_per_msg']:.2f}x / "
                   f"{c['receiver_cpu_ns_per_msg'] / b['receiver_cpu_ns_per_msg']:.2f}x")
        raw = find(cases, suite=suite, pattern=pattern, transport=tr, size=size, implementation="courier-raw")
        lines.append(f"| {suite} {pattern} {tr} {size_label(size)} | {base} | {cpu_cell(b)} | {ours} | "
                     f"{cpu_cell(c)} | {rel} | {cpu_cell(raw)} |")
    return lines


def rss_table(cases):
    rows = [("throughput", "pushpull", "tcp", 256, 1, 1), ("throughput", "pushpull", "tcp", 65536, 1, 1),
            ("throughput", "pubsub", "tcp", 256, 1, 1), ("throughput", "pubsub", "tcp", 65536, 1, 1),
            ("typed", "pushpull", "tcp", 32, 1, 1), ("typed", "pubsub", "tcp", 32, 1, 1),
            ("fanout", "pubsub", "tcp", 256, 32, 1),
            ("connections", "pushpull", "tcp", 256, 1, 64)]
    impls = ["zmq", "zmq-msgpack", "nng", "courier-bytes", "courier-typed", "courier-batched"]
    head = ["case"] + impls
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for suite, pattern, tr, size, subs, conns in rows:
        cells = [f"{suite} {pattern} {tr} {size_label(size)}" + (f", {subs} subs" if subs > 1 else "") +
                 (f", {conns} conns" if conns > 1 else "")]
        for i in impls:
            c = find(cases, suite=suite, pattern=pattern, transport=tr, size=size, subscribers=subs,
                     connections=conns, implementation=i)
            cells.append(f"{c['peak_rss_kb'] / 1024:.1f}" if c and c.get("peak_rss_kb") else "-")
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def problems(cases):
    bad = [c for c in cases if c.get("lost") or c.get("errors")]
    if not bad:
        return ["No message was lost and no case failed: every receiver counted exactly what was sent."]
    lines = ["| case | lost | errors |", "|---|---|---|"]
    for c in bad:
        name = f"{c['suite']} {c['pattern']} {c['transport']} {c['size']} B {c['implementation']}"
        lines.append(f"| {name} | {c.get('lost', 0)} | {'; '.join(c.get('errors', []))[:200]} |")
    return lines


def targets_of(cases):
    t = Targets()
    throughput_table(cases, "pushpull", ["zmq", "nng", "courier-bytes", "courier-raw"], t)
    throughput_table(cases, "pubsub", ["zmq", "courier-bytes", "courier-raw"], t)
    typed_table(cases, t)
    reqrep_table(cases, t)
    connections_table(cases, t)
    return t


def repeatability(this, others):
    """Every target check of this run next to the same check in other runs."""
    runs = [("this run", this)] + [(m.get("started", "?")[:16].replace("T", " "), targets_of(c)) for m, c in others]
    head = ["target", "case"] + [name for name, _ in runs]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, what, *_ in this.rows:
        cells = [name, what]
        for _, t in runs:
            row = next((r for r in t.rows if r[0] == name and r[1] == what), None)
            cells.append(f"{fmt_ratio(row[2], row[3])} {'✅' if row[5] else '❌'}" if row else "-")
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def render(meta, summary, cases, others=()):
    t = Targets()
    parts = {
        "pushpull": throughput_table(cases, "pushpull", ["zmq", "nng", "courier-bytes", "courier-raw"], t),
        "pubsub": throughput_table(cases, "pubsub", ["zmq", "courier-bytes", "courier-raw"], t),
        "typed": typed_table(cases, t),
        "reqrep": reqrep_table(cases, t),
        "pingpong": pingpong_table(cases, t),
        "fanout": fanout_table(cases),
        "connections": connections_table(cases, t),
        "rss": rss_table(cases),
        "cpu": cpu_table(cases),
    }
    out = []
    if meta:
        revision = f" at {meta['revision']}" if meta.get("revision") else ""
        out += [f"Run of {meta.get('started', '?')}{revision}: `{meta.get('command', '')}`; "
                f"{meta.get('rounds')} round(s) of {meta.get('seconds')} s per case, "
                f"{'sender pinned to CPU 0 and receiver to CPU 1' if meta.get('pin') else 'unpinned'}; "
                f"libzmq {meta.get('libzmq')}, nng {meta.get('nng')}, msgpack-cxx {meta.get('msgpack_cxx')}; "
                f"{meta.get('cpu_model')}, {meta.get('cpus')} CPUs, {meta.get('kernel')}"
                + (f"; {summary.get('cases')} cases in {summary.get('elapsed_s')} s." if summary else "."), ""]
    out += ["### Targets", ""] + t.summary() + [""]
    out += ["### Raw bytes, push-pull (messages/s, median [min-max], payload MB/s)", "",
            "courier-bytes: `bytes_view` payloads in an envelope; courier-raw: `push_raw`/`publish_raw` and "
            "`receive_raw`, no envelope.", ""] + parts["pushpull"] + [""]
    out += ["### Raw bytes, publish-subscribe (messages/s, median [min-max], payload MB/s)", ""] + parts["pubsub"] + [""]
    out += ["### Typed envelopes: a 32-byte struct, decoded at the receiver (messages/s)", ""] + parts["typed"] + [""]
    out += ["### Request-reply round trip, one call at a time, 16 B (µs, median [min-max] of the rounds' p50 / p99)",
            ""] + parts["reqrep"] + [""]
    out += ["### Batching at low load: one typed message there and back over push-pull (µs, p50 / p99)", "",
            "Both senders batching or neither; a quiet call leaves directly from the caller's thread.", ""]
    out += parts["pingpong"] + [""]
    out += ["### Fan-out, 256 B (deliveries/s: messages received, all subscribers together)", ""] + parts["fanout"] + [""]
    out += ["### 1 and 64 sender connections into one puller, 256 B (messages/s, all senders together)", ""]
    out += parts["connections"] + [""]
    out += ["### CPU time per message (ns, sending thread / receiving thread, median of the rounds)", "",
            "Measured with CLOCK_THREAD_CPUTIME_ID over the timed part; it does not depend on which side "
            "sets the pace, so it is the steadier figure on a busy machine. libzmq's I/O thread is not included.",
            ""] + parts["cpu"] + [""]
    out += ["### Peak RSS (MiB, VmHWM of the case's own process, highest round)", ""] + parts["rss"] + [""]
    out += ["### Lost messages and failures", ""] + problems(cases)
    if others:
        out += ["", "### The same targets in other full runs",
                "", "Each column is a whole run of the suite on the same machine; the spread is the machine's.", ""]
        out += repeatability(t, others)
    return "\n".join(out) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("results", help="JSON lines written by courier-bench --out")
    ap.add_argument("--update", metavar="FILE", help="replace the text between the result markers in FILE")
    ap.add_argument("--also", metavar="RUN", nargs="+", default=[],
                    help="results of other full runs: adds their target ratios next to this run's")
    args = ap.parse_args()
    meta, summary, cases = load(args.results)
    others = [(m, c) for m, _, c in map(load, args.also)]
    text = render(meta, summary, cases, others)
    if not args.update:
        sys.stdout.write(text)
        return 0
    with open(args.update, encoding="utf-8") as f:
        doc = f.read()
    if BEGIN not in doc or END not in doc:
        print(f"report.py: {args.update} has no {BEGIN} ... {END} markers", file=sys.stderr)
        return 1
    head, rest = doc.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    with open(args.update, "w", encoding="utf-8") as f:
        f.write(head + BEGIN + "\n" + text + END + tail)
    return 0


if __name__ == "__main__":
    sys.exit(main())
