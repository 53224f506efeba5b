"""Load and fault test of ``photomend serve`` on 127.0.0.1; writes benchmarks/results_server.md.

    python benchmarks/load_server.py                    # ~2-4 min on 2 cores
    python benchmarks/load_server.py --engine patchmatch --clients 10 --requests 2

The server is started the way users start it (``python -m photomend serve``) in a subprocess,
with worker processes; its memory (the server process plus its workers) is sampled from /proc
every 0.1 s. Three phases:

1. **Load**: C concurrent clients each submit R removals of a 1-megapixel JPEG, one after the
   other: POST /v1/remove -> follow the job's Server-Sent Events -> GET the result. Each request
   carries its own photo (a different marker drawn in), and each result is checked against the
   photo of its own request (pixels outside the hole identical), so a lost, duplicated or
   swapped answer is caught. Reports throughput, p50/p95 latency, peak RSS.
2. **Overload**: many more clients than queue slots submit at the same instant: the excess must
   get 503 with Retry-After (no unbounded queueing); they retry after the time it says, and every
   job must still complete.
3. **Faults**: 100 malformed requests (truncated and corrupt images, decompression bombs, wrong
   content types, broken multipart, oversized bodies, clients that disconnect mid-upload); each
   must get a 4xx with a JSON error body (disconnected clients get no answer: the server must
   simply survive them); afterwards /healthz must say ok and a normal request must succeed.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import platform
import socket
import struct
import subprocess
import sys
import threading
import time
import zlib
from importlib.resources import files
from pathlib import Path

import httpx
import numpy as np
from PIL import Image, ImageDraw

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


# --- the photos -------------------------------------------------------------------------------


def base_photo() -> np.ndarray:
    """The bundled example photo scaled to about one megapixel (1372x729)."""
    with Image.open(files("photomend") / "data" / "example.jpg") as im:
        return np.asarray(im.convert("RGB").resize((1372, 729), Image.Resampling.LANCZOS))


def hole_mask(shape) -> np.ndarray:
    h, w = shape[:2]
    m = Image.new("L", (w, h), 0)
    d = ImageDraw.Draw(m)
    d.ellipse([w * 0.30, h * 0.35, w * 0.42, h * 0.65], fill=255)  # ~2 % of the photo
    d.line([(w * 0.6, h * 0.2), (w * 0.75, h * 0.3)], fill=255, width=24)
    return np.asarray(m)


def request_photo(base: np.ndarray, n: int) -> tuple[bytes, np.ndarray]:
    """The base photo with request number ``n`` drawn as a bar code; (JPEG bytes, decoded)."""
    img = Image.fromarray(base)
    d = ImageDraw.Draw(img)
    for bit in range(12):
        colour = (255, 255, 255) if (n >> bit) & 1 else (0, 0, 0)
        d.rectangle([20 + bit * 14, 20, 30 + bit * 14, 40], fill=colour)
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=90)
    data = buf.getvalue()
    with Image.open(io.BytesIO(data)) as im:
        return data, np.asarray(im.convert("RGB"))


def png(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, "PNG")
    return buf.getvalue()


# --- the server and its memory ------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


class MemorySampler(threading.Thread):
    """Peak RSS of the server process and of server + workers together, sampled every 0.1 s."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.stop, self.peak_total, self.peak_server = pid, False, 0, 0

    def reset(self) -> None:
        self.peak_total = self.peak_server = 0

    def run(self) -> None:
        while not self.stop:
            pids = descendants(self.pid)
            self.peak_total = max(self.peak_total, sum(rss_kib(p) for p in pids))
            self.peak_server = max(self.peak_server, rss_kib(self.pid))
            time.sleep(0.1)


def start_server(args) -> tuple[subprocess.Popen, str]:
    port = free_port()
    cmd = [sys.executable, "-m", "photomend", "serve", "--port", str(port),
           "--workers", str(args.workers), "--queue-size", str(args.queue_size),
           "--max-upload-mb", "16", "--max-pixels", "40000000", "--log-level", "info"]
    log = HERE / ".cache" / "load_server.log"
    log.parent.mkdir(exist_ok=True)
    print(f"server log: {log}", flush=True)
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=log.open("w"))
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(url + "/healthz", timeout=1).json()["workers_alive"] == args.workers:
                break
        except (httpx.HTTPError, ValueError, KeyError):
            pass
        if time.monotonic() > deadline or proc.poll() is not None:
            raise SystemExit("the server did not start")
        time.sleep(0.2)
    return proc, url


# --- phase 1 and 2: load ----------------------------------------------------------------------


async def follow(client: httpx.AsyncClient, job: dict) -> dict:
    """Read the job's Server-Sent Events until its final event; return that JobInfo."""
    async with client.stream("GET", job["events_url"]) as r:
        event = None
        async for line in r.aiter_lines():
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: ") and event in ("done", "failed", "cancelled"):
                return json.loads(line[6:])
    raise RuntimeError("the event stream ended without a final event")


async def one_removal(client, data: bytes, mask: bytes, engine: str, stats: dict,
                      retry: bool) -> tuple[float, bytes | None]:
    started = time.perf_counter()
    while True:
        r = await client.post("/v1/remove", files={"image": ("p.jpg", data, "image/jpeg"),
                                                    "mask": ("m.png", mask, "image/png")},
                              data={"engine": engine, "format": "png"})
        if r.status_code == 503:
            stats["503"] += 1
            after = r.headers.get("retry-after")
            if after is None or not r.headers["content-type"].startswith("application/json"):
                stats["503_without_retry_after"] += 1
                after = "1"
            stats["retry_after"].append(int(after))
            if not retry:
                return time.perf_counter() - started, None
            await asyncio.sleep(int(after))
            continue
        if r.status_code != 202:
            stats["errors"].append(f"POST {r.status_code}: {r.text[:200]}")
            return time.perf_counter() - started, None
        job = r.json()
        stats["ids"].append(job["id"])
        final = await follow(client, job)
        stats["run_times"].append(final["finished"] - final["started"])
        if final["state"] != "done":
            stats["errors"].append(f"job {final['state']}: {final.get('error')}")
            return time.perf_counter() - started, None
        res = await client.get(job["result_url"])
        if res.status_code != 200:
            stats["errors"].append(f"result {res.status_code}")
            return time.perf_counter() - started, None
        return time.perf_counter() - started, res.content


def check_result(result: bytes, expected: np.ndarray, hole: np.ndarray) -> str | None:
    with Image.open(io.BytesIO(result)) as im:
        out = np.asarray(im.convert("RGB"))
    if out.shape != expected.shape:
        return f"size {out.shape} != {expected.shape}"
    if not (out[~hole] == expected[~hole]).all():
        return "pixels outside the hole differ: not this request's photo"
    if (out[hole] == expected[hole]).all():
        return "nothing filled"
    return None


async def run_load(url: str, clients: int, per_client: int, engine: str, retry: bool,
                   photos: list[tuple[bytes, np.ndarray]], mask: bytes, hole: np.ndarray) -> dict:
    stats = {"503": 0, "503_without_retry_after": 0, "retry_after": [], "errors": [], "ids": [],
             "latencies": [], "run_times": [], "checked": 0}
    # Idle connections expire on the client before uvicorn's 5-s keep-alive timeout closes
    # them, so a request is never sent on a connection the server is closing (a client-side
    # race that would otherwise show up as "server disconnected" after a Retry-After sleep).
    limits = httpx.Limits(max_connections=clients + 10, max_keepalive_connections=clients + 10,
                          keepalive_expiry=3.0)
    async with httpx.AsyncClient(base_url=url, timeout=httpx.Timeout(900.0),
                                 limits=limits) as client:
        async def worker(c: int) -> None:
            for k in range(per_client):
                n = c * per_client + k
                data, expected = photos[n % len(photos)]
                latency, result = await one_removal(client, data, mask, engine, stats, retry)
                if result is None:
                    continue
                problem = check_result(result, expected, hole)
                if problem:
                    stats["errors"].append(f"request {n}: {problem}")
                else:
                    stats["checked"] += 1
                    stats["latencies"].append(latency)

        started = time.perf_counter()
        await asyncio.gather(*(worker(c) for c in range(clients)))
        stats["wall"] = time.perf_counter() - started
    return stats


# --- phase 3: faults --------------------------------------------------------------------------


def bomb_png(width=100_000, height=100_000) -> bytes:
    def chunk(kind, body):
        return (struct.pack(">I", len(body)) + kind + body
                + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
            + chunk(b"IDAT", zlib.compress(b"\x00" * 4096)) + chunk(b"IEND", b""))


def bomb_jpeg(jpeg: bytes, width=60_000, height=60_000) -> bytes:
    """A real JPEG whose frame header claims 3.6 gigapixels."""
    i = jpeg.find(b"\xff\xc0")
    return jpeg[: i + 5] + struct.pack(">HH", height, width) + jpeg[i + 9:]


def fault_cases(photo: bytes, mask: bytes, n: int) -> list[tuple[str, dict]]:
    rng = np.random.default_rng(0)
    img = {"mask": ("m.png", mask, "image/png")}

    def with_image(data: bytes) -> dict:
        return {"files": {"image": ("p.jpg", data, "image/jpeg"), **img}}

    kinds = [
        ("truncated JPEG", lambda i: with_image(photo[: 200 + 997 * i % (len(photo) // 2)])),
        ("corrupt JPEG (bytes overwritten)", lambda i: with_image(
            photo[:700] + rng.bytes(2000) + photo[2700:][: 3000 + i])),
        ("truncated PNG", lambda i: with_image(mask[: 40 + 31 * i % (len(mask) - 60)])),
        ("random bytes", lambda i: with_image(rng.bytes(500 + 37 * i))),
        ("decompression bomb (PNG, 10 gigapixels)", lambda i: with_image(bomb_png())),
        ("decompression bomb (JPEG, 3.6 gigapixels)", lambda i: with_image(bomb_jpeg(photo))),
        ("bomb as the mask", lambda i: {"files": {"image": ("p.jpg", photo), "mask": (
            "m.png", bomb_png(50_000 + i, 50_000))}}),
        ("GIF", lambda i: with_image(b"GIF89a" + rng.bytes(100))),
        ("JSON body", lambda i: {"json": {"image": "aGVsbG8=", "n": i}}),
        ("text/plain body", lambda i: {"content": b"x" * (10 + i),
                                       "headers": {"content-type": "text/plain"}}),
        ("form-urlencoded body", lambda i: {"data": {"image": "x" * i}}),
        ("multipart without boundary", lambda i: {"content": b"--x\r\n",
                                                  "headers": {"content-type": "multipart/form-data"}}),
        ("broken multipart", lambda i: {"content": b"--zz\r\ngarbage" + rng.bytes(i),
                                        "headers": {"content-type": "multipart/form-data; boundary=zz"}}),
        ("missing mask", lambda i: {"files": {"image": ("p.jpg", photo)}}),
        ("mask of another size", lambda i: {"files": {"image": ("p.jpg", photo), "mask": (
            "m.png", png(np.full((10 + i, 10), 255, np.uint8)))}}),
        ("unknown engine", lambda i: {**with_image(photo), "data": {"engine": f"x{i}"}}),
        ("option out of range", lambda i: {**with_image(photo), "data": {"working_size": "-1"}}),
        ("body over the 16 MiB limit", lambda i: with_image(b"\xff\xd8\xff" + bytes(17 << 20))),
        ("client disconnects mid-upload", None),
    ]
    return [(kinds[i % len(kinds)][0], kinds[i % len(kinds)][1](i) if kinds[i % len(kinds)][1]
             else {"disconnect": 200_000 + 1000 * i}) for i in range(n)]


def disconnect_mid_upload(url: str, sent: int, declared: int = 5_000_000) -> None:
    """Send the headers and part of a body, then close the socket."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as s:
        s.sendall(f"POST /v1/remove HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: "
                  f"multipart/form-data; boundary=zz\r\nContent-Length: {declared}\r\n\r\n"
                  .encode() + b"--zz\r\nContent-Disposition: form-data; name=\"image\"; "
                  b"filename=\"p.jpg\"\r\n\r\n" + b"\xff\xd8\xff" + bytes(sent))


def run_faults(url: str, photo: bytes, mask: bytes, n: int) -> dict:
    rows: dict[str, dict] = {}
    with httpx.Client(base_url=url, timeout=60) as client:
        for kind, req in fault_cases(photo, mask, n):
            row = rows.setdefault(kind, {"n": 0, "statuses": set(), "ok": 0})
            row["n"] += 1
            if "disconnect" in req:
                disconnect_mid_upload(url, req["disconnect"])
                row["statuses"].add("no answer (client gone)")
                row["ok"] += 1
                continue
            r = client.post("/v1/remove", **req)
            row["statuses"].add(r.status_code)
            try:
                body = r.json()
                good = 400 <= r.status_code < 500 and {"error", "message"} <= set(body)
            except ValueError:
                good = False
            row["ok"] += good
        time.sleep(0.5)
        health = client.get("/healthz").json()
    return {"rows": rows, "health": health}


# --- the report -------------------------------------------------------------------------------


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--requests", type=int, default=4, help="requests per client")
    ap.add_argument("--engine", default="telea")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--queue-size", type=int, default=64)
    ap.add_argument("--overload-clients", type=int, default=100)
    ap.add_argument("--faults", type=int, default=100)
    ap.add_argument("--load-only", action="store_true",
                    help="run the load phase only (for a sample with a slow engine)")
    ap.add_argument("--out", type=Path, default=HERE / "results_server.md")
    args = ap.parse_args()

    base = base_photo()
    hole = hole_mask(base.shape) > 0
    mask = png(hole_mask(base.shape))
    photos = [request_photo(base, n) for n in range(args.clients * args.requests)]
    print(f"{len(photos)} photos of {base.shape[1]}x{base.shape[0]} ready", flush=True)

    proc, url = start_server(args)
    sampler = MemorySampler(proc.pid)
    sampler.start()
    try:
        idle_rss = sum(rss_kib(p) for p in descendants(proc.pid))
        load_before = os.getloadavg()[1]
        print(f"server at {url}; load phase...", flush=True)
        load = asyncio.run(run_load(url, args.clients, args.requests, args.engine, True,
                                    photos, mask, hole))
        load_peak, load_server_peak = sampler.peak_total, sampler.peak_server
        load_after = os.getloadavg()[1]
        print(f"load: {load['checked']} ok, {len(load['errors'])} errors, "
              f"{load['wall']:.1f} s", flush=True)

        alive = proc.poll() is None
        if args.load_only:
            return write_load_only(args, base, hole, load, load_peak, load_server_peak,
                                   idle_rss, load_before, load_after)
        sampler.reset()
        print("overload phase...", flush=True)
        over = asyncio.run(run_load(url, args.overload_clients, 1, args.engine, True,
                                    photos, mask, hole))
        over_peak = sampler.peak_total
        print(f"overload: {over['503']} x 503, {over['checked']} ok", flush=True)

        sampler.reset()
        print("fault phase...", flush=True)
        faults = run_faults(url, photos[0][0], mask, args.faults)
        after = asyncio.run(run_load(url, 1, 1, args.engine, False, photos, mask, hole))
        fault_peak = sampler.peak_total
        alive = proc.poll() is None
    finally:
        sampler.stop = True
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()

    lines, lost, dup = load_report(args, base, hole, load, load_peak, load_server_peak,
                                   idle_rss, load_before, load_after)
    fault_total = sum(r["n"] for r in faults["rows"].values())
    fault_ok = sum(r["ok"] for r in faults["rows"].values())
    ra = over["retry_after"]
    lines += [
        f"Engine: `{args.engine}`. The same load with PatchMatch, the default engine, is in "
        "[results_server_patchmatch.md](results_server_patchmatch.md) (`--engine patchmatch "
        "--load-only --out benchmarks/results_server_patchmatch.md`); the server's queueing, "
        "memory and error handling do not depend on the engine, which runs in the worker.",
        "",
        "## Overload",
        "",
        f"{args.overload_clients} clients submit one removal each at the same instant "
        f"(queue {args.queue_size}, {args.workers} workers); a client refused with 503 waits "
        "the Retry-After it was given, then tries again.",
        "",
        "| clients | 503 answers | 503 without Retry-After | Retry-After given (min-max) | completed and verified in the end | errors | peak RSS (server + workers) |",
        "|---|---|---|---|---|---|---|",
        f"| {args.overload_clients} | {over['503']} | {over['503_without_retry_after']} | "
        f"{min(ra, default=0)}-{max(ra, default=0)} s | {over['checked']} / "
        f"{args.overload_clients} | {len(over['errors'])} | {over_peak / 1024:.0f} MiB |",
        "",
        "## Malformed requests",
        "",
        f"{fault_total} requests, sent one after the other; "
        f"{fault_ok} of them were answered as they should be (a 4xx with a JSON body "
        "`{error, message, status}`; for a client that disconnects mid-upload, no answer and "
        "no harm).",
        "",
        "| kind | requests | HTTP status | as expected |",
        "|---|---|---|---|",
    ]
    for kind, row in faults["rows"].items():
        statuses = ", ".join(str(s) for s in sorted(row["statuses"], key=str))
        lines.append(f"| {kind} | {row['n']} | {statuses} | {row['ok']} / {row['n']} |")
    h = faults["health"]
    lines += [
        "",
        f"Afterwards: `/healthz` status **{h['status']}**, workers alive {h['workers_alive']} / "
        f"{h['workers']}, server process {'running' if alive else 'GONE'}; a normal removal "
        f"{'succeeded' if after['checked'] == 1 else 'FAILED'}. Peak RSS in this phase "
        f"{fault_peak / 1024:.0f} MiB.",
        "",
        "## Verdict",
        "",
        f"- Load target (0 errors, 0 lost jobs): **{'met' if not load['errors'] and lost == 0 and not dup else 'NOT met'}**.",
        f"- Overload answered with 503 + Retry-After, every job completed after retrying: "
        f"**{'met' if over['503'] and not over['503_without_retry_after'] and over['checked'] == args.overload_clients else 'NOT met'}**.",
        f"- Malformed requests each a 4xx JSON error, server still healthy: "
        f"**{'met' if fault_ok == fault_total and h['status'] == 'ok' and after['checked'] == 1 else 'NOT met'}**.",
        "",
    ]
    args.out.write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines))


def load_report(args, base, hole, load, load_peak, load_server_peak, idle_rss, load_before,
                load_after):
    """The title, the setup and the load section of the report; (lines, lost, duplicated)."""
    lat = load["latencies"]
    total = args.clients * args.requests
    lost = total - load["checked"] - len(load["errors"])
    dup = len(load["ids"]) - len(set(load["ids"]))
    lines = [
        "# `photomend serve` under load and faults",
        "",
        f"Written by `python benchmarks/load_server.py` "
        f"({' '.join(sys.argv[1:]) or 'default options'}) on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}. "
        f"Machine: {os.cpu_count()} CPU cores ({platform.machine()}, shared with other work), "
        f"Python {platform.python_version()}. Server: `photomend serve --workers {args.workers} "
        f"--queue-size {args.queue_size}` on 127.0.0.1 (worker processes). Photo: the bundled "
        f"example scaled to {base.shape[1]}x{base.shape[0]} "
        f"({base.shape[0] * base.shape[1] / 1e6:.2f} MP) JPEG, a different marker drawn into "
        f"each request's copy; hole {hole.mean():.1%} of the photo; engine `{args.engine}`; "
        "results as PNG.",
        "",
        "## Load",
        "",
        "| clients x requests | completed and verified | errors | lost | answered twice | wall time | throughput | latency p50 | latency p95 | max | job run time p50 (in a worker) | peak RSS (server + workers) | peak RSS (server process) | RSS idle |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
        f"| {args.clients} x {args.requests} | {load['checked']} / {total} | "
        f"{len(load['errors'])} | {lost} | {dup} | {load['wall']:.1f} s | "
        f"{load['checked'] / load['wall']:.2f} req/s | {pct(lat, 50):.2f} s | "
        f"{pct(lat, 95):.2f} s | {max(lat, default=float('nan')):.2f} s | "
        f"{pct(load['run_times'], 50):.2f} s | "
        f"{load_peak / 1024:.0f} MiB | {load_server_peak / 1024:.0f} MiB | {idle_rss / 1024:.0f} MiB |",
        "",
        f"The 2 cores were shared with the other work on this machine: the 5-minute load average "
        f"was {load_before:.1f} when the phase began and {load_after:.1f} when it ended, so the "
        "times are those of a crowded machine. The latency is mostly waiting in the queue: "
        f"{args.clients} clients share {args.workers} workers, and a job itself took the run "
        "time in the table (decode, fill, PNG encode).",
        "",
        "Latency: from the start of the upload to the last byte of the result, following the "
        "job's Server-Sent Events in between. Each client sends its requests one after the "
        f"other, so up to {args.clients} jobs are in the server at once "
        f"({args.workers} running, the rest queued: the queue holds {args.queue_size}). "
        "A result counts as verified when every pixel outside the hole equals the request's own "
        "decoded photo (so a swapped or duplicated answer would fail) and the hole was filled.",
        "",
    ]
    if load["errors"]:
        lines += ["Errors:", ""] + [f"- {e}" for e in load["errors"][:20]] + [""]
    return lines, lost, dup


def write_load_only(args, base, hole, load, load_peak, load_server_peak, idle_rss,
                    load_before, load_after) -> None:
    lines, lost, dup = load_report(args, base, hole, load, load_peak, load_server_peak,
                                   idle_rss, load_before, load_after)
    ok = not load["errors"] and lost == 0 and not dup
    lines += ["## Verdict", "", f"- 0 errors, 0 lost jobs: **{'met' if ok else 'NOT met'}**.", ""]
    args.out.write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
