"""``scripts/bench``: run the measurements of issues 6 and 10 side by side, print a table,
write JSON.

Each figure comes from this one run, on the same topic and broker, so ratios compare like
with like even on a shared machine. Sections (``--only``): a b c d e f g h, i (the shared
live tail against one consumer per stream, ``tail.py``), j (schema registry topics: Avro
against JSON, ``registry.py``), k (fairness: p99 beside a paused client or blocking hooks,
``fairness.py``), plus ``client`` (the load client's
own ceiling) and ``profile`` (py-spy on the worker during b).
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from . import baseline, data, fairness, memory, profile, registry, streams, tail
from .procs import ROOT, Gunicorn, raise_nofile

SECTIONS = ("client", "a", "b", "profile", "c", "g", "d", "e", "f", "h", "i", "j", "k")
TAIL_PARTS = ("latency", "fanout", "wide", "idle", "capacity")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="scripts/bench", description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--message-bytes", type=int, default=300)
    parser.add_argument(
        "--clients", default="1,10,100,500", help="fan-out client counts for (d), comma list"
    )
    parser.add_argument("--idle-streams", type=int, default=1000, help="(f) idle streams")
    parser.add_argument(
        "--duration", type=float, default=8.0, help="measurement window of (d) and (e), seconds"
    )
    parser.add_argument(
        "--tail-rate", type=float, default=200.0, help="(d) live-tail produce rate, messages/s"
    )
    parser.add_argument("--repeat", type=int, default=2, help="(a)/(b) runs, best kept")
    parser.add_argument("--with-node", action="store_true", help="(c): the Node original")
    parser.add_argument("--quick", action="store_true", help="tiny sizes (the smoke test)")
    parser.add_argument("--only", default="", help=f"comma list of {','.join(SECTIONS)}")
    parser.add_argument("--patch", default="", help="experimental server patches (patches.py)")
    parser.add_argument("--json", type=Path, default=None, help="where to write the JSON")
    parser.add_argument(
        "--tail-parts",
        default=",".join(TAIL_PARTS),
        help=f"(i) which scenarios, comma list of {','.join(TAIL_PARTS)}",
    )
    parser.add_argument(
        "--load-processes",
        type=int,
        default=1,
        help="(i) load-client processes sharing the streams (when one is the limit)",
    )
    parser.add_argument(
        "--profile-tail",
        action="store_true",
        help="(i) latency/fanout once more, shared, under py-spy (figures kept apart)",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.messages = min(args.messages, 2000)
        args.clients = "1,5"
        args.idle_streams = 20
        args.duration = 1.0
        args.tail_rate = 50.0
        args.repeat = 1
    args.client_counts = [int(c) for c in args.clients.split(",") if c.strip()]
    only = {s.strip() for s in args.only.split(",") if s.strip()}
    unknown = only - set(SECTIONS)
    if unknown:
        parser.error(f"unknown section(s) {', '.join(sorted(unknown))}")
    args.tail_part_set = {p.strip() for p in args.tail_parts.split(",") if p.strip()}
    if args.tail_part_set - set(TAIL_PARTS):
        parser.error(
            f"unknown --tail-parts {', '.join(sorted(args.tail_part_set - set(TAIL_PARTS)))}"
        )
    sections = only or set(SECTIONS) - {"c"}
    if args.with_node:
        sections.add("c")
    args.sections = sections
    return args


def machine() -> dict[str, Any]:
    cpu = platform.processor() or "?"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    with open("/proc/meminfo") as f:
        mem_kb = int(f.readline().split()[1])
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gb": round(mem_kb / 2**20, 1),
        "kernel": platform.release(),
        "hostname": platform.node(),
    }


def versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for name in ("kafkasse_wsgi", "kafka-python", "gevent", "gunicorn", "greenlet", "crc32c"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "not installed"
    return out


def broker_version(bootstrap: str) -> str:
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, client_id="kafkasse-bench")
    try:
        return ".".join(map(str, consumer.config["api_version"]))
    finally:
        consumer.close()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    nofile = raise_nofile()  # (i) holds 10,000 client sockets; children inherit the limit
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
    broker_port = int(bootstrap.split(",")[0].rsplit(":", 1)[1])
    started = datetime.datetime.now(datetime.timezone.utc)
    out_dir = ROOT / "bench-results"
    out_dir.mkdir(exist_ok=True)
    json_path = args.json or out_dir / f"bench-{started:%Y%m%dT%H%M%SZ}.json"
    results: dict[str, Any] = {
        "meta": {
            "started": started.isoformat(timespec="seconds"),
            "argv": sys.argv[1:],
            "machine": machine(),
            "versions": versions(),
            "bootstrap": bootstrap,
            "broker_api_version": broker_version(bootstrap),
            "sections": sorted(args.sections),
            "patch": args.patch,
            "quick": args.quick,
            "nofile": nofile,
        },
        "metrics": {},
    }
    log = lambda msg: print(f"bench: {msg}", file=sys.stderr, flush=True)  # noqa: E731
    kafka = data.Kafka(bootstrap)
    live_topic = kafka.live_topic()
    try:
        results["data"] = kafka.replay_topic(args.messages, args.message_bytes)
        results["data"]["actual_value_bytes"] = len(data.make_value(0, args.message_bytes))
        topic = results["data"]["topic"]
        log(f"data: {results['data']}")
        run_sections(args, results, kafka, bootstrap, broker_port, topic, live_topic, out_dir, log)
    finally:
        kafka.delete(live_topic)
        kafka.close()
        results["meta"]["seconds"] = round(time.monotonic() - _T0, 1)
        from .report import table, write_json

        write_json(results, json_path)
        print(table(results))
        print(f"JSON: {json_path}")
    return 1 if results.get("failures") else 0


_T0 = time.monotonic()


def run_sections(
    args: argparse.Namespace,
    results: dict[str, Any],
    kafka: data.Kafka,
    bootstrap: str,
    broker_port: int,
    topic: str,
    live_topic: str,
    out_dir: Path,
    log: Any,
) -> None:
    want = args.sections
    metrics = results["metrics"]
    options: dict[str, Any] = {}  # KafkaSSE defaults: what users get

    def section(name: str, fn: Any) -> None:
        if name not in want:
            return
        log(f"section {name} …")
        began = time.monotonic()
        try:
            fn()
        except Exception as exc:
            results.setdefault("failures", {})[name] = "".join(
                traceback.format_exception_only(type(exc), exc)
            ).strip()
            log(f"section {name} FAILED: {exc}")
            traceback.print_exc()
        log(f"section {name} done in {time.monotonic() - began:.1f}s")

    def client_ceiling() -> None:
        events = 20_000 if args.quick else 1_000_000
        results["client_ceiling"] = streams.client_ceiling(
            args.message_bytes, events, max(args.client_counts)
        )

    section("client", client_ceiling)

    if want & {"a", "b", "profile", "g"}:
        with Gunicorn(bootstrap, options, patch=args.patch, log_dir=out_dir) as server:
            results["meta"]["server"] = {"options": options, "port": server.port}
            # Warm the worker: its first stream pays for imports and protocol set-up.
            streams.single_stream(server.port, None, topic, min(args.messages, 1000))
            runs_a: list[dict[str, Any]] = []
            runs_b: list[dict[str, Any]] = []

            def a_and_b() -> None:
                for _ in range(args.repeat):
                    if "a" in want:
                        runs_a.append(baseline.bare_consumer_rate(bootstrap, topic, args.messages))
                        log(f"(a) {runs_a[-1]['eps']:,.0f} ev/s")
                    if "b" in want:
                        runs_b.append(
                            streams.single_stream(
                                server.port, server.worker_pid, topic, args.messages
                            )
                        )
                        log(f"(b) {runs_b[-1]['eps']:,.0f} ev/s")
                if runs_a:
                    results["a"] = {**max(runs_a, key=lambda r: r["eps"]), "runs": runs_a}
                if runs_b:
                    results["b"] = {**max(runs_b, key=lambda r: r["eps"]), "runs": runs_b}
                if runs_a and runs_b:
                    metrics["b_over_a"] = results["b"]["eps"] / results["a"]["eps"]

            section("a" if "a" in want else "b", a_and_b)
            section(
                "profile",
                lambda: results.__setitem__(
                    "profile",
                    profile.profile_single_stream(
                        server.port, server.worker_pid, topic, args.messages, out_dir
                    ),
                ),
            )
            section(
                "g",
                lambda: results.__setitem__(
                    "g", streams.first_byte(server.port, topic, live_topic, 5 if args.quick else 20)
                ),
            )

    def node() -> None:
        from .node import NodeUnavailable, node_stream

        try:
            results["c"] = node_stream(bootstrap, topic, args.messages, out_dir)
        except NodeUnavailable as exc:
            results["c"] = {"error": str(exc)}
            log(f"(c) Node kafka-sse unavailable: {exc}")
            return
        if "b" in results:
            metrics["b_over_c"] = results["b"]["eps"] / results["c"]["eps"]

    section("c", node)

    def fanout() -> None:
        results["d"] = []
        for mode in ("replay", "tail"):
            for clients in args.client_counts:
                with Gunicorn(bootstrap, options, patch=args.patch, log_dir=out_dir) as server:
                    row = streams.fanout(
                        server.port,
                        server.worker_pid,
                        kafka,
                        topic,
                        args.messages,
                        live_topic,
                        clients,
                        mode,
                        args.duration,
                        args.tail_rate,
                        args.message_bytes,
                    )
                results["d"].append(row)
                log(
                    f"(d) {mode} {clients}: {row['aggregate_eps']:,.0f} ev/s, "
                    f"cpu {row['worker_cpu']:.2f}, errors {row['errors']}"
                )

    section("d", fanout)

    def latency() -> None:
        scenarios = [(1, 20.0), (5, 100.0)] if args.quick else [(1, 50.0), (100, 1000.0)]
        results["e"] = []
        for clients, rate in scenarios:
            with Gunicorn(bootstrap, options, patch=args.patch, log_dir=out_dir) as server:
                row = streams.latency(
                    server.port,
                    server.worker_pid,
                    kafka,
                    clients,
                    rate,
                    max(args.duration, 1.5),
                    args.message_bytes,
                )
            results["e"].append(row)
            log(f"(e) {clients} @ {rate}: p50 {row['p50_ms']} p99 {row['p99_ms']} ms")

    section("e", latency)

    def filters() -> None:
        """(h) ?filter=: one stream scanning with a 1% filter vs without; many at the tail."""
        runs: list[dict[str, Any]] = []
        with Gunicorn(bootstrap, options, patch=args.patch, log_dir=out_dir) as server:
            streams.single_stream(server.port, None, topic, min(args.messages, 1000))  # warm
            for _ in range(args.repeat):
                for text in (None, streams.ONE_PERCENT_FILTER):
                    runs.append(
                        streams.scan(server.port, server.worker_pid, topic, args.messages, text)
                    )
        plain = max((r for r in runs if r["filter"] is None), key=lambda r: r["scanned_eps"])
        one = max((r for r in runs if r["filter"]), key=lambda r: r["scanned_eps"])
        results["h"] = {"unfiltered": plain, "one_percent": one, "runs": runs, "tail": []}
        metrics["h_filtered_over_unfiltered"] = one["scanned_eps"] / plain["scanned_eps"]
        log(
            f"(h) scan: unfiltered {plain['scanned_eps']:,.0f} ev/s, 1% filter "
            f"{one['scanned_eps']:,.0f} ev/s ({one['events']} passed)"
        )
        counts = [5, 20] if args.quick else [100, max(args.client_counts)]
        # The same clients without a filter, in the same conditions, for comparison.
        for clients in counts:
            for filters in (streams.TEN_FILTERS, [""]):
                with Gunicorn(bootstrap, options, patch=args.patch, log_dir=out_dir) as server:
                    row = streams.filtered_latency(
                        server.port,
                        server.worker_pid,
                        kafka,
                        clients,
                        args.tail_rate,
                        max(args.duration, 1.5),
                        args.message_bytes,
                        filters,
                    )
                results["h"]["tail"].append(row)
                log(
                    f"(h) {clients} clients, {row['distinct_filters']} filters @ "
                    f"{args.tail_rate}: p50 {row['p50_ms']} p99 {row['p99_ms']} ms, "
                    f"cpu {row['worker_cpu']:.2f}"
                )

    section("h", filters)

    section(
        "f",
        lambda: results.__setitem__(
            "f", memory.memory(bootstrap, live_topic, args.idle_streams, broker_port, out_dir)
        ),
    )

    def shared_tail() -> None:
        plan = tail.Plan.quick() if args.quick else tail.Plan.full()
        tail.run(
            plan,
            bootstrap,
            broker_port,
            kafka,
            args.message_bytes,
            parts=args.tail_part_set,
            processes=args.load_processes,
            log_dir=out_dir,
            patch=args.patch,
            profile=args.profile_tail,
            log=log,
            out=results.setdefault("i", {}),
        )

    section("i", shared_tail)

    def schema_registry() -> None:
        results["j"] = registry.run(
            bootstrap,
            kafka,
            topic,
            args.messages,
            args.message_bytes,
            args.repeat,
            max(args.client_counts),
            out_dir,
            log,
        )
        metrics["j_avro_over_json"] = results["j"]["avro_over_json"]
        metrics["j_avro_over_json_cpu"] = results["j"]["avro_over_json_cpu"]

    section("j", schema_registry)
    section(
        "k",
        lambda: results.__setitem__(
            "k", fairness.run(bootstrap, kafka, args.message_bytes, out_dir, log, args.quick)
        ),
    )
