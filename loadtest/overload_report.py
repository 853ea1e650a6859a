#!/usr/bin/env python3
"""Per-phase figures of an overload run (see overload.sh).

usage: overload_report.py PHASES.json CPU.txt START   one run: prints a table, writes SUMMARY.json
       overload_report.py --median SUMMARY.json...     the median of the runs, phase by phase

The 5s+% column is the share shed from the sixth second of a phase on (the
issue allows 5 s to recover from an overload).
CPU.txt has lines "unix-time cpu-seconds" of the server; START is the unix
time the load run started. For each phase: offered rate λ, goodput g, shed
share, admitted p99 and max, the server's CPU share, and the ceiling
(1 - (λ-g)·r)/s, where s is the CPU per scored request (from the 0.8x phase,
where nothing is shed) and r the CPU per shed request (from the 3x phase,
solving CPU = g·s + (λ-g)·r for r).
"""
import json
import statistics
import sys


def cpu_between(samples, t0, t1):
    """CPU seconds the server used between t0 and t1 (linear between samples)."""
    def at(t):
        prev = None
        for ts, c in samples:
            if ts >= t:
                if prev is None:
                    return c
                pts, pc = prev
                return pc + (c - pc) * (t - pts) / max(ts - pts, 1e-9)
            prev = (ts, c)
        return samples[-1][1]
    return at(t1) - at(t0)


def one(phases_path, cpu_path, start):
    rep = json.load(open(phases_path))
    samples = []
    for line in open(cpu_path):
        parts = line.split()
        if len(parts) == 2:
            samples.append((float(parts[0]), float(parts[1])))
    rows = []
    for st in rep["stages"]:
        # Leave out the first second of each phase: its rate changed.
        t0 = start + st["start_s"] + 1
        t1 = start + st["start_s"] + st["duration_s"]
        cpu = cpu_between(samples, t0, t1) / (t1 - t0)
        lat = st["ok_latency_ms"]
        # The issue allows 5 s to recover: sheds from the phase's sixth
        # second on, of the requests answered then.
        late = [x for x in rep["timeline"] if st["start_s"] + 5 <= x["t"] < st["start_s"] + st["duration_s"]]
        answered = sum(x["count"] for x in late)
        shed5 = 100 * sum(x["shed"] + x["errors"] for x in late) / answered if answered else 0
        rows.append({
            "phase": round(st.get("rate_x") or st["rate"], 3), "offered": st["rate"], "goodput": st["goodput"],
            "shed5_pct": shed5,
            "shed_pct": st["shed_pct"], "errors": st["errors"], "dropped": st["dropped"],
            "p50_ms": lat["p50"], "p99_ms": lat["p99"], "max_ms": lat["max"], "cpu": cpu,
        })
    capacity = rep.get("nominal_capacity", 0)
    low = next(r for r in rows if abs(r["phase"] - 0.8) < 1e-9)
    s = low["cpu"] / max(low["goodput"], 1e-9)
    top = max(rows, key=lambda r: r["offered"])
    shed = max(top["offered"] - top["goodput"], 1e-9)
    r = max(top["cpu"] - top["goodput"] * s, 0) / shed
    for row in rows:
        lam, g = row["offered"], row["goodput"]
        ceiling = max((1 - (lam - g) * r) / s, 0)
        row["ceiling"] = min(ceiling, lam)
        row["of_ceiling"] = g / row["ceiling"] if row["ceiling"] > 0 else None
        row["of_capacity"] = g / capacity if capacity else None
    summary = {"capacity": capacity, "s_us": s * 1e6, "r_us": r * 1e6, "phases": rows}
    json.dump(summary, open(phases_path.replace("-phases.json", "-summary.json"), "w"), indent=1)
    return summary


def table(summary):
    print(f"capacity {summary['capacity']:.0f}/s   s = {summary['s_us']:.0f} µs per scored request, "
          f"r = {summary['r_us']:.0f} µs per shed")
    print(f"{'phase':>6} {'offered':>8} {'goodput':>8} {'shed%':>6} {'5s+%':>6} {'p50ms':>7} {'p99ms':>7} {'maxms':>7} "
          f"{'cpu':>5} {'ceiling':>8} {'g/ceil':>6} {'g/cap':>6}")
    for row in summary["phases"]:
        oc = f"{row['of_ceiling']:.2f}" if row["of_ceiling"] is not None else "-"
        ocap = f"{row['of_capacity']:.2f}" if row["of_capacity"] is not None else "-"
        print(f"{row['phase']:>5g}x {row['offered']:>8.0f} {row['goodput']:>8.0f} {row['shed_pct']:>6.2f} "
              f"{row.get('shed5_pct', 0):>6.2f} "
              f"{row['p50_ms']:>7.1f} {row['p99_ms']:>7.1f} {row['max_ms']:>7.1f} {row['cpu']:>5.2f} "
              f"{row['ceiling']:>8.0f} {oc:>6} {ocap:>6}")


def median(paths):
    runs = [json.load(open(p)) for p in paths]
    keys = ["offered", "goodput", "shed_pct", "shed5_pct", "p50_ms", "p99_ms", "max_ms", "cpu", "ceiling", "of_ceiling", "of_capacity"]
    out = {"capacity": statistics.median(r["capacity"] for r in runs),
           "s_us": statistics.median(r["s_us"] for r in runs),
           "r_us": statistics.median(r["r_us"] for r in runs), "phases": []}
    for i, row in enumerate(runs[0]["phases"]):
        m = {"phase": row["phase"]}
        for k in keys:
            vals = [r["phases"][i][k] for r in runs if r["phases"][i][k] is not None]
            m[k] = statistics.median(vals) if vals else None
        out["phases"].append(m)
    print(f"== median of {len(runs)} runs")
    table(out)


if __name__ == "__main__":
    if sys.argv[1] == "--median":
        median(sys.argv[2:])
    else:
        table(one(sys.argv[1], sys.argv[2], float(sys.argv[3])))
