"""Benchmark of the webhook receiver on loopback (not a test; run it by hand).

    .venv/bin/python benchmarks/bench_webhooks.py [--clients 4] [--seconds 15] [--events 6000]

1. Load: `./fpwh webhooks serve` in its own process; `--clients` client processes POST signed v4 webhooks
   (simulated events, ~5 kB each, keep-alive) as fast as the receiver answers, for `--seconds`. Prints the
   requests/s sustained and the latency percentiles (every 2xx comes after the body's fsync). Fingerprint
   gives an endpoint 3 s.
2. Crash: the same load, and the receiver is killed with SIGKILL once it stored a third of it. A new receiver
   lands what the dead one left in its inbox; every webhook answered 2xx must be in bronze exactly once.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import polars as pl  # noqa: E402
import psutil  # noqa: E402
import requests  # noqa: E402

from pipelines.settings import WarehouseSettings  # noqa: E402
from pipelines.tables import open_warehouse  # noqa: E402
from simulator.population import Population  # noqa: E402
from simulator.webhooks import SIGNATURE_HEADER, day_bodies, sign  # noqa: E402

SECRET = "bench-secret"


def bodies(n: int) -> list[tuple[str, bytes, str]]:
    """(request ID, v4 body, signature) of n simulated events of the last complete days."""
    population, out = Population(seed=7, events_per_day=4000), []
    day = datetime.now(UTC).date() - timedelta(days=1)
    while len(out) < n:
        ids = [rid for _, rid in population.day_events(day)]
        out += [(rid, body, sign(body, [SECRET])) for rid, body in day_bodies(population, ids, 4)]
        day -= timedelta(days=1)
    return out[:n]


def start_receiver(warehouse: Path) -> tuple[subprocess.Popen, str]:
    env = {**os.environ, "FPWH_WAREHOUSE_DIR": str(warehouse), "FINGERPRINT_WEBHOOK_SECRET": SECRET}
    env["FPWH_WEBHOOK_LAND_INTERVAL_S"] = "5"
    proc = subprocess.Popen(
        [sys.executable, "-m", "pipelines.webhooks", "serve", "--port", "0"],
        cwd=ROOT,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    line = proc.stderr.readline()
    url = line.split("listening on ", 1)[1].split()[0]
    for _ in range(300):  # listening already; wait until the app answers (startup lands the old inbox)
        try:
            requests.get(url + "/health", timeout=1)
            break
        except requests.ConnectionError:
            time.sleep(0.05)
    return proc, url


def client(args: tuple[str, list[tuple[str, bytes, str]], float]) -> dict:
    """POST the bodies for `seconds` (from this client's own start): latencies, acknowledged IDs, errors, span."""
    url, work, seconds = args
    latencies, acknowledged, errors = [], [], 0
    started = time.time()
    with requests.Session() as session:
        for rid, body, signature in work:
            if time.time() >= started + seconds:
                break
            sent = time.perf_counter()
            try:
                answer = session.post(url, data=body, headers={SIGNATURE_HEADER: signature}, timeout=10)
            except requests.RequestException:
                errors += 1
                if errors > 3:
                    break  # the receiver is gone
                continue
            latencies.append((time.perf_counter() - sent) * 1000)
            if answer.status_code == 200:
                acknowledged.append(rid)
            else:
                errors += 1
    return {"latencies": latencies, "acked": acknowledged, "errors": errors, "span": (started, time.time())}


def run_clients(url: str, work: list, clients: int, seconds: float, kill: subprocess.Popen | None = None):
    """Run the clients; with `kill`, SIGKILL that receiver once it has stored a third of what they send."""
    slices = [(url, work[k::clients], seconds) for k in range(clients)]
    with multiprocessing.get_context("spawn").Pool(clients) as pool:
        pending = pool.map_async(client, slices)
        if kill is not None:
            while not pending.ready() and _stored(url) < len(work) // 3:
                time.sleep(0.05)
            os.kill(kill.pid, signal.SIGKILL)
        return pending.get()


def _stored(url: str) -> int:
    try:
        return requests.get(url + "/health", timeout=2).json()["counts"].get("stored", 0)
    except requests.RequestException:
        return 0


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def load(work: list, clients: int, seconds: float) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        proc, url = start_receiver(Path(tmp))
        before = psutil.Process(proc.pid).cpu_times()
        try:
            results = run_clients(url, work, clients, seconds)
            after = psutil.Process(proc.pid).cpu_times()
        finally:
            proc.terminate()
            proc.wait(timeout=60)
        receiver_cpu_s = (after.user + after.system) - (before.user + before.system)
        latencies = [ms for r in results for ms in r["latencies"]]
        acked = sum(len(r["acked"]) for r in results)
        errors = sum(r["errors"] for r in results)
        elapsed = max(r["span"][1] for r in results) - min(r["span"][0] for r in results)
        stored = open_warehouse(WarehouseSettings(directory=tmp)).bronze
        in_bronze = sum(stored.all_fetches(d).height for d in stored.days())
        print(f"load: {clients} client processes, {len(latencies)} requests in {elapsed:.1f} s")
        print(f"  sustained      {len(latencies) / elapsed:8.0f} requests/s ({acked} acknowledged, {errors} errors)")
        print(
            f"  latency ms     p50 {percentile(latencies, 0.5):.1f}  p99 {percentile(latencies, 0.99):.1f}  "
            f"max {max(latencies):.1f}"
        )
        print(
            f"  receiver CPU   {receiver_cpu_s / max(1, len(latencies)) * 1000:.2f} ms per request "
            f"({receiver_cpu_s / elapsed:.0%} of one core; the clients share the same 2 cores)"
        )
        print(f"  in bronze after a clean stop: {in_bronze} (acknowledged: {acked})")


def crash(work: list, clients: int, seconds: float) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        proc, url = start_receiver(Path(tmp))
        results = run_clients(url, work, clients, seconds, kill=proc)
        proc.wait()
        acknowledged = [rid for r in results for rid in r["acked"]]
        again, _ = start_receiver(Path(tmp))  # its startup lands the dead receiver's inbox
        again.terminate()
        again.wait(timeout=60)
        bronze = open_warehouse(WarehouseSettings(directory=tmp)).bronze
        frames = [bronze.all_fetches(d) for d in bronze.days()]
        stored = pl.concat(frames)["request_id"] if frames else pl.Series([], dtype=pl.String)
        missing = set(acknowledged) - set(stored.to_list())
        duplicates = stored.len() - stored.n_unique()
        print(f"kill -9 in the middle of the load: {len(acknowledged)} acknowledged, {stored.len()} in bronze")
        print(f"  acknowledged but missing: {len(missing)}; stored twice: {duplicates}")
        if missing or duplicates:
            raise SystemExit("FAILED: the receiver lost or doubled acknowledged webhooks")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--events", type=int, default=6000)
    args = parser.parse_args()
    work = bodies(args.events)
    print(
        f"{len(work)} signed v4 webhooks, {sum(len(b) for _, b, _ in work) / len(work) / 1024:.1f} kB each on average"
    )
    load(work, args.clients, args.seconds)
    crash(work, args.clients, args.seconds)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
