"""The result table (stdout) and the JSON file (``bench-results/`` by default)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def _n(value: Any, digits: int = 0) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def _ok(flag: bool | None) -> str:
    return "" if flag is None else ("  [target met]" if flag else "  [TARGET MISSED]")


def table(results: dict[str, Any]) -> str:
    out: list[str] = []
    add = out.append
    meta = results["meta"]
    add(
        f"kafkasse_wsgi bench — {meta['started']}  ({meta['machine']['cpu']}, "
        f"{meta['machine']['cores']} cores)"
    )
    data = results.get("data", {})
    add(
        f"data: {data.get('topic')} — {_n(data.get('messages'))} messages, "
        f"{_n(data.get('message_bytes'))} B each (value {_n(data.get('actual_value_bytes'))} B), "
        f"1 partition"
    )
    m = results.get("metrics", {})
    rows: list[tuple[str, str, str]] = []
    if "client_ceiling" in results:
        c = results["client_ceiling"]
        rows.append(
            (
                "client ceiling (static server)",
                f"{_n(c['one_stream_eps'])} ev/s 1 stream; "
                f"{_n(c['many_streams_eps'])} ev/s over {c['clients']}",
                f"client cpu {c['one_stream_client_cpu']:.2f}",
            )
        )
    if "a" in results:
        a = results["a"]
        rows.append(
            (
                "(a) bare kafka-python consumer",
                f"{_n(a['eps'])} ev/s",
                "best of " + ", ".join(_n(r["eps"]) for r in a["runs"]),
            )
        )
    if "b" in results:
        b = results["b"]
        note = f"{m.get('b_over_a', 0):.2f}x (a)" if "b_over_a" in m else ""
        rows.append(
            (
                "(b) one stream, gunicorn gevent",
                f"{_n(b['eps'])} ev/s",
                f"{note}; worker cpu {b['worker_cpu']:.2f}; ttfb {_n(b['ttfb_ms'], 1)} ms"
                + _ok(m.get("b_over_a", 0) >= 0.8 if "b_over_a" in m else None),
            )
        )
    if "c" in results:
        c = results["c"]
        if "error" in c:
            rows.append(("(c) Node kafka-sse", "unavailable", c["error"].splitlines()[0][:90]))
        else:
            rows.append(
                (
                    "(c) Node kafka-sse",
                    f"{_n(c['eps'])} ev/s",
                    f"ours {m.get('b_over_c', 0):.2f}x node; node cpu "
                    f"{c.get('worker_cpu', 0):.2f}" + _ok(m.get("b_over_c", 0) >= 3),
                )
            )
    if "d" in results:
        for d in results["d"]:
            label = f"(d) {d['clients']} clients {d['mode']}"
            extra = (
                f"cpu {d['worker_cpu']:.2f}; errors {d['errors']}; stalled {d['stalled']}; "
                f"max gap {d['max_gap_s']:.2f}s; open {d['ready_s']:.1f}s"
            )
            if d["mode"] == "tail":
                extra += f"; delivered {100 * d['delivered_fraction']:.0f}% of offered"
            if d["mode"] == "replay" and d["clients"] == 100 and "b" in results:
                ratio = d["aggregate_eps"] / max(results["b"]["eps"], 1e-9)
                extra += f"; {ratio:.2f}x (b)" + _ok(ratio >= 0.6)
            rows.append((label, f"{_n(d['aggregate_eps'])} ev/s", extra))
    if "e" in results:
        for e in results["e"]:
            rows.append(
                (
                    f"(e) latency {e['clients']} cl @ {_n(e['rate'])} ev/s",
                    f"p50 {_n(e['p50_ms'], 1)} / p99 {_n(e['p99_ms'], 1)} ms",
                    f"max {_n(e['max_ms'], 1)} ms; delivered "
                    f"{100 * e['delivered_fraction']:.1f}%; worker cpu {e['worker_cpu']:.2f}"
                    + _ok(e["p99_ms"] is not None and e["p99_ms"] < 50),
                )
            )
    if "f" in results:
        f = results["f"]
        s, bare = f["streams"], f["bare_consumers"]
        rows.append(
            (
                f"(f) {s['n']} idle streams",
                f"{_n(s['rss_per_stream_kb'], 1)} KB/stream",
                f"RSS {_n(s['rss_before_mb'], 1)}→{_n(s['rss_after_mb'], 1)} MB; "
                f"{s['broker_conns_per_stream']:.2f} broker conns/stream; "
                f"idle cpu {s['idle_cpu']:.2f}; open {s['open_s']:.1f}s",
            )
        )
        rows.append(
            (
                "(f) bare consumers, gevent",
                f"{_n(bare['rss_per_stream_kb'], 1)} KB/consumer",
                f"{bare['broker_conns_per_stream']:.2f} broker conns each; "
                f"idle cpu {bare['idle_cpu']:.2f}",
            )
        )
        rows.append(
            (
                "(f) added per idle stream",
                f"{_n(f['added_per_stream_kb'], 1)} KB",
                "stream - bare consumer" + _ok(f["added_per_stream_kb"] < 50),
            )
        )
    if "g" in results:
        g = results["g"]
        rows.append(
            (
                "(g) first byte, warm worker",
                f"p50 {_n(g['ttfb_ms'].get('p50'), 1)} ms",
                f"max {_n(g['ttfb_ms'].get('max'), 1)}; first event p50 "
                f"{_n(g['first_event_ms'].get('p50'), 1)} ms; at tail "
                f"{_n(g['tail_ttfb_ms'].get('p50'), 1)} ms"
                + _ok(g["ttfb_ms"].get("p50", 1e9) < 100),
            )
        )
    if "h" in results:
        h = results["h"]
        plain, one = h["unfiltered"], h["one_percent"]
        ratio = m.get("h_filtered_over_unfiltered", 0)
        rows.append(
            (
                "(h) one stream scanning, no filter",
                f"{_n(plain['scanned_eps'])} ev/s",
                f"worker cpu {plain.get('worker_cpu', 0):.2f}",
            )
        )
        rows.append(
            (
                "(h) one stream scanning, 1% filter",
                f"{_n(one['scanned_eps'])} ev/s",
                f"{ratio:.2f}x unfiltered; {one['events']} passed" + _ok(ratio >= 0.8),
            )
        )
        for t in h["tail"]:
            target = t["distinct_filters"] > 0
            rows.append(
                (
                    f"(h) {t['clients']} cl, {t['distinct_filters'] or 'no'} filters "
                    f"@ {_n(t['rate'])} ev/s",
                    f"p50 {_n(t['p50_ms'], 1)} / p99 {_n(t['p99_ms'], 1)} ms",
                    f"max {_n(t['max_ms'], 1)} ms; received {_n(t['received'])}; "
                    f"errors {t['errors']}; worker cpu {t['worker_cpu']:.2f}"
                    + (_ok(t["p99_ms"] is not None and t["p99_ms"] < 100) if target else ""),
                )
            )
    for name, row in results.get("k", {}).items():
        rows.append(
            (
                f"(k) {name}: p99 beside a misbehaving stream",
                f"p50 {_n(row['p50_ms'], 1)} / p99 {_n(row['p99_ms'], 1)} ms",
                f"received {_n(row['received'])}/{_n(row['expected'])}; errors {row['errors']}"
                + _ok(row["met"]),
            )
        )
    if "profile" in results and "self_top" in results["profile"]:
        p = results["profile"]
        rows.append(
            (
                "profile (b) under py-spy",
                f"{_n(p['eps_while_profiled'])} ev/s",
                f"{p['samples']} samples; top self: "
                + ", ".join(f"{n.split(' (')[0]} {v}%" for n, v in p["self_top"][:4]),
            )
        )
    width = max(len(r[0]) for r in rows) if rows else 10
    vwidth = max(len(r[1]) for r in rows) if rows else 10
    out.extend(f"{name:<{width}}  {value:>{vwidth}}  {note}" for name, value, note in rows)
    if "j" in results and "avro" in results["j"]:
        j = results["j"]
        out.append(
            f"(j) schema registry: one stream replaying Avro {_n(j['avro']['eps'])} ev/s vs the "
            f"same records as JSON {_n(j['json']['eps'])} ev/s ({j['avro_over_json']:.2f}x; "
            f"per worker CPU second {j.get('avro_over_json_cpu', 0):.2f}x); "
            f"registry fetches by clients {j['fetches']}"
        )
    if "i" in results:
        out.extend(tail_table(results["i"]))
    return "\n".join(out)


def _ratio(shared: float | None, per_stream: float | None) -> str:
    if shared is None or per_stream is None or per_stream == 0:
        return "-"
    ratio = shared / per_stream
    return f"{ratio:.3g}x"


def _ms(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value / 1000:.2f} s" if value >= 1000 else f"{value:.1f} ms"


def _target(text: str, met: bool | None) -> str:
    return text + ("" if met is None else ("  [met]" if met else "  [MISSED]"))


def _within(counts: dict[str, int], limit_ms: float) -> float:
    """Share of the sampled latencies (value → count) at or under ``limit_ms``."""
    total = sum(counts.values())
    return sum(c for v, c in counts.items() if float(v) <= limit_ms) / max(total, 1)


def tail_table(i: dict[str, Any]) -> list[str]:
    """(i): shared live tail against one consumer per stream, the issue-10 table with
    ratios shared / per-stream and the targets of the shared column."""
    head = (
        f"(i) shared live tail vs one consumer per stream: one gevent worker, "
        f"{i.get('partitions')} partitions, {i.get('message_bytes')} B events, "
        f"{i.get('client_processes')} load-client process(es)"
    )
    out = ["", head]
    if not i.get("shared_tail_supported", True):
        out.append(
            "    NOTE: this kafkasse_wsgi has no shared_tail option: BOTH columns are per-stream"
        )
    rows: list[tuple[str, str, str, str, str]] = [
        ("", "per-stream", "shared", "shared/per-stream", "target (shared)")
    ]
    for part, p99_target in (("latency", 50.0), ("fanout", 100.0)):
        if part not in i:
            continue
        row = i[part]
        ps, sh = row.get("per-stream"), row.get("shared")
        if not ps or not sh:
            continue
        name = f"{row['clients']:,} cl @ {row['rate']:,.0f} ev/s"
        rows.append(
            (
                f"{name}: delivered",
                f"{100 * ps['delivered_fraction']:.1f}%",
                f"{100 * sh['delivered_fraction']:.1f}%",
                _ratio(sh["delivered_fraction"], ps["delivered_fraction"]),
                _target("100%", sh["delivered_fraction"] == 1.0),
            )
        )
        rows.append(
            (
                f"{name}: p99 produce→client",
                _ms(ps["p99_ms"]),
                _ms(sh["p99_ms"]),
                _ratio(sh["p99_ms"], ps["p99_ms"]),
                _target(
                    f"< {p99_target:.0f} ms", sh["p99_ms"] is not None and sh["p99_ms"] < p99_target
                ),
            )
        )
        if "latency_counts" in sh and "latency_counts" in ps:
            rows.append(
                (
                    f"{name}: events within {p99_target:.0f} ms",
                    f"{100 * _within(ps['latency_counts'], p99_target):.1f}%",
                    f"{100 * _within(sh['latency_counts'], p99_target):.1f}%",
                    "",
                    "",
                )
            )
        rows.append(
            (
                f"{name}: p50 / worker cpu",
                f"{_ms(ps['p50_ms'])} / {ps['worker_cpu']:.2f}",
                f"{_ms(sh['p50_ms'])} / {sh['worker_cpu']:.2f}",
                _ratio(sh["worker_cpu"], ps["worker_cpu"]),
                "",
            )
        )
        if "worker_us_per_delivery" in sh:
            rows.append(
                (
                    f"{name}: worker cpu per delivery",
                    f"{ps['worker_us_per_delivery']:.1f} µs",
                    f"{sh['worker_us_per_delivery']:.1f} µs",
                    _ratio(sh["worker_us_per_delivery"], ps["worker_us_per_delivery"]),
                    f"load average {ps['loadavg']:.1f} / {sh['loadavg']:.1f} "
                    f"on {i.get('cores')} cores",
                )
            )
        ceiling = row.get("client_ceiling", {}).get("eps")
        rows.append(
            (
                f"{name}: offered / client ceiling",
                f"{_n(ps['offered_eps'])} ev/s",
                f"{_n(sh['offered_eps'])} ev/s",
                "",
                f"ceiling {_n(ceiling)} ev/s (static server, same streams)",
            )
        )
    wide = i.get("wide", {}).get("shared")
    if wide:
        row = i["wide"]
        name = f"{row['clients']:,} cl @ {row['rate']:,.0f} ev/s"
        ceiling = row.get("client_ceiling", {}).get("eps")
        none = "- (a consumer each)"
        rows += [
            (
                f"{name}: delivered",
                none,
                f"{100 * wide['delivered_fraction']:.1f}%",
                "",
                _target("100%", wide["delivered_fraction"] == 1.0),
            ),
            (
                f"{name}: p99 produce→client",
                none,
                _ms(wide["p99_ms"]),
                "",
                _target("< 500 ms", wide["p99_ms"] is not None and wide["p99_ms"] < 500.0),
            ),
            (
                f"{name}: p50 / worker cpu",
                none,
                f"{_ms(wide['p50_ms'])} / {wide['worker_cpu']:.2f}",
                "",
                f"load average {wide['loadavg']:.1f}; client ceiling {_n(ceiling)} ev/s",
            ),
        ]
    idle = i.get("idle", {})
    ps, sh = idle.get("per-stream"), idle.get("shared")
    if ps and sh:
        per_k = lambda r: 1000 * r["idle_cpu"] / r["n"]  # noqa: E731
        rows.append(
            (
                "idle clients at the tail",
                f"{ps['n']:,}",
                f"{sh['n']:,}",
                "",
                f"connected {ps['connected']:,} / {sh['connected']:,}"
                + (
                    "; per-stream at fewer (a consumer and a broker connection each): "
                    "compared per client"
                    if ps["n"] < sh["n"]
                    else ""
                ),
            )
        )
        rows.append(
            (
                "  memory per client (RSS delta / N)",
                f"{ps['rss_per_stream_kb']:.1f} KB",
                f"{sh['rss_per_stream_kb']:.1f} KB",
                _ratio(sh["rss_per_stream_kb"], ps["rss_per_stream_kb"]),
                _target("< 20 KB", sh["rss_per_stream_kb"] < 20),
            )
        )
        if "greenlets_per_stream" in sh and "greenlets_per_stream" in ps:
            rows.append(
                (
                    "  greenlets per client",
                    f"{ps['greenlets_per_stream']:.2f}",
                    f"{sh['greenlets_per_stream']:.2f}",
                    _ratio(sh["greenlets_per_stream"], ps["greenlets_per_stream"]),
                    "",
                )
            )
        hubs = (sh.get("tail") or {}).get("hubs") or 1
        rows.append(
            (
                "  broker connections (per client)",
                f"{ps['broker_conns']:,} ({ps['broker_conns'] / ps['n']:.2f})",
                f"{sh['broker_conns']:,} ({sh['broker_conns'] / sh['n']:.4f})",
                _ratio(sh["broker_conns"] / sh["n"], ps["broker_conns"] / ps["n"]),
                _target(
                    "the hub's own",
                    sh["broker_conns"] <= hubs * i.get("brokers", 1),
                ),
            )
        )
        rows.append(
            (
                "  time to open all (per 1k clients)",
                f"{ps['open_s']:.1f} s ({1000 * ps['open_s'] / ps['n']:.2f} s)",
                f"{sh['open_s']:.1f} s ({1000 * sh['open_s'] / sh['n']:.2f} s)",
                _ratio(sh["open_s"] / sh["n"], ps["open_s"] / ps["n"]),
                _target("< 30 s", sh["open_s"] < 30),
            )
        )
        rows.append(
            (
                f"  idle cpu over {sh.get('cpu_window_s', 0):.0f} s, cores (per 1k)",
                f"{ps['idle_cpu']:.3f} ({per_k(ps):.3f})",
                f"{sh['idle_cpu']:.3f} ({per_k(sh):.4f})",
                _ratio(per_k(sh), per_k(ps)),
                _target("< 0.1 core", sh["idle_cpu"] < 0.1),
            )
        )
    cap = i.get("capacity", {})
    ps, sh = cap.get("per-stream"), cap.get("shared")
    if ps and sh:
        ratio = sh["sustained_eps"] / ps["sustained_eps"] if ps["sustained_eps"] else None
        capped = lambda r: "≥ " if r["capped"] else ""  # noqa: E731
        rows.append(
            (
                f"most deliveries/s kept up, {cap['clients']} cl",
                f"{capped(ps)}{_n(ps['sustained_eps'])}",
                f"{capped(sh)}{_n(sh['sustained_eps'])}",
                "-" if ratio is None else f"{ratio:.3g}x",
                _target("≥ 10x per-stream", None if ratio is None else ratio >= 10),
            )
        )

        def behind(r: dict[str, Any]) -> str:
            kept = {s["rate"] for s in r["steps"] if s["kept_up"]}
            rate = min((s["rate"] for s in r["steps"] if s["rate"] not in kept), default=None)
            return "never" if rate is None else _n(rate)

        rows.append(
            (
                "  kept up at ev/s each / fell behind at",
                f"{_n(ps['sustained_rate'])} / {behind(ps)}",
                f"{_n(sh['sustained_rate'])} / {behind(sh)}",
                "",
                f"client ceiling {_n(cap['client_ceiling']['eps'])} ev/s (static server)",
            )
        )
    widths = [max(len(r[c]) for r in rows) for c in range(5)]
    for r in rows:
        out.append(
            f"{r[0]:<{widths[0]}}  {r[1]:>{widths[1]}}  {r[2]:>{widths[2]}}  "
            f"{r[3]:>{widths[3]}}  {r[4]}".rstrip()
        )
    grown = i.get("idle", {}).get("shared", {}).get("grown_per_stream")
    if grown:
        out.append("where an idle shared client's memory grew (tracemalloc, bytes per client):")
        out.extend(
            f"  {g['bytes']:>6,} B  {g['objects']:5.2f} objects  "
            + " <- ".join(w.rsplit("site-packages/", 1)[-1] for w in g["where"][::-1][:3])
            for g in grown[:10]
        )
    for part in ("latency", "fanout"):
        run = i.get(part, {}).get("shared_profiled")
        if run and "self_top" in run.get("profile", {}):
            out.append(
                f"py-spy on the shared worker, {part} again (p99 {_ms(run['p99_ms'])} while "
                f"sampled), self: "
                + ", ".join(f"{n} {v}%" for n, v in run["profile"]["self_top"][:8])
            )
    return out


def write_json(results: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2, default=str) + "\n")
