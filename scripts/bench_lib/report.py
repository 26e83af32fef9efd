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
    return "\n".join(out)


def write_json(results: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2, default=str) + "\n")
