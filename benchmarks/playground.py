"""Playground race: steps and frames per second at each speed setting, through the server.

A real playground server (``descentlab playground``) runs in its own process; one
WebSocket client starts a race, lets it play for a while at one speed setting (steps per
frame), then pauses it. Per setting it reports what a student sees:

* steps/s: race steps per second (every optimizer of the race makes each step);
* frames/s and the longest gap between two frames (a stalled map);
* kB/frame: the size of a frame's JSON;
* pause: race frames that still arrive after the pause (sent before the server read it)
  and the time from the pause to the last of them.

Two races: Beale with 3 optimizers (the page's default) and Rosenbrock with 10. Targets
of issue 16: >= 3,000 steps/s at the top speed with 10 optimizers and >= 20 frames/s at
every speed. ``--quick`` (CI): two speeds, about a second each (< 15 s in all).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import socket
import subprocess
import sys
import time
from typing import Any

from _common import ROOT, machine, parser

OPTIMIZERS = [
    ("sgd", 1e-4),
    ("momentum", 1e-4),
    ("nesterov", 1e-4),
    ("adam", 1e-3),
    ("rmsprop", 1e-3),
    ("adagrad", 1e-2),
    ("adamw", 1e-3),
    ("adadelta", 1.0),
    ("adamax", 1e-3),
    ("nadam", 1e-3),
]
RACES = {"beale, 3 optimizers": ("beale", 3), "rosenbrock, 10 optimizers": ("rosenbrock", 10)}
SPEEDS = [1, 5, 20, 50, 100, 200]
QUICK_SPEEDS = [1, 200]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _config(landscape: str, n: int, speed: int) -> dict[str, Any]:
    return {
        "landscape": landscape,
        "optimizers": [
            {"id": f"o{i + 1}", "name": name, "hyper": {"lr": lr}}
            for i, (name, lr) in enumerate(OPTIMIZERS[:n])
        ],
        "max_steps": 20000,
        "tol": 1e-12,
        "steps_per_frame": speed,
        "autoplay": True,
    }


async def _measure(uri: str, landscape: str, n: int, speed: int, seconds: float) -> dict[str, Any]:
    import websockets

    async with websockets.connect(uri, max_size=1 << 26, origin=None) as ws:
        hello = json.loads(await ws.recv())
        assert hello["type"] == "hello", hello
        await ws.send(json.dumps({"type": "race.start", "config": _config(landscape, n, speed)}))
        frames: list[tuple[float, int, int]] = []  # (time, step, bytes)
        t_end = None
        while True:
            raw = await ws.recv()
            now = time.perf_counter()
            msg = json.loads(raw)
            if msg["type"] == "error":
                raise RuntimeError(msg["message"])
            if msg["type"] != "race.frame":
                continue
            frames.append((now, msg["step"], len(raw)))
            if len(frames) == 2:  # the start's frame 0 is not a playing frame
                t_end = now + seconds
            if msg["done"] or (t_end is not None and now >= t_end):
                break
        t_pause = time.perf_counter()
        await ws.send(json.dumps({"type": "race.control", "action": "pause"}))
        await ws.send(json.dumps({"type": "ping"}))
        late, last_late = 0, t_pause
        while True:
            msg = json.loads(await ws.recv())
            if msg["type"] == "pong":
                break
            if msg["type"] == "race.frame":
                late += 1
                last_late = time.perf_counter()
    playing = frames[1:]
    span = playing[-1][0] - playing[0][0]
    gaps = [b[0] - a[0] for a, b in itertools.pairwise(playing)]
    return {
        "speed": speed,
        "steps_per_s": (playing[-1][1] - playing[0][1]) / span if span > 0 else float("nan"),
        "frames_per_s": (len(playing) - 1) / span if span > 0 else float("nan"),
        "max_gap_ms": 1e3 * max(gaps, default=float("nan")),
        "kb_per_frame": sum(f[2] for f in playing) / len(playing) / 1024,
        "late_frames": late,
        "pause_ms": 1e3 * (last_late - t_pause),
        "done": frames[-1][1] >= 20000,
    }


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--seconds", type=float, default=None, help="playing time per setting")
    args = p.parse_args()
    speeds = QUICK_SPEEDS if args.quick else SPEEDS
    seconds = args.seconds or (1.0 if args.quick else 4.0)
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    server = subprocess.Popen(
        [sys.executable, "-m", "descentlab.cli", "playground", "--port", str(port), "--no-browser"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit("the playground server did not start") from None
                time.sleep(0.1)
        uri = f"ws://127.0.0.1:{port}/ws"
        results = {}
        for title, (landscape, n) in RACES.items():
            rows = []
            for speed in speeds:
                rows.append(asyncio.run(_measure(uri, landscape, n, speed, seconds)))
            results[title] = rows
    finally:
        server.terminate()
        server.wait(timeout=10)

    print(f"\n== playground race through the server ({seconds:g} s per setting)")
    for title, rows in results.items():
        print(f"\n{title}")
        print("| steps/frame | steps/s | frames/s | longest gap | kB/frame | frames after pause |")
        print("|---:|---:|---:|---:|---:|---:|")
        for r in rows:
            print(
                f"| {r['speed']} | {r['steps_per_s']:.0f} | {r['frames_per_s']:.1f} | "
                f"{r['max_gap_ms']:.0f} ms | {r['kb_per_frame']:.1f} | "
                f"{r['late_frames']} ({r['pause_ms']:.0f} ms) |"
            )
    top = results["rosenbrock, 10 optimizers"][-1]
    slowest = min(r["frames_per_s"] for rows in results.values() for r in rows)
    print(
        f"\ntargets: top speed with 10 optimizers {top['steps_per_s']:.0f} steps/s "
        f"(target >= 3000); slowest frame rate {slowest:.1f} frames/s (target >= 20); "
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
    )
    if args.json:
        with open(args.json, "a") as fh:
            fh.write(
                json.dumps(
                    {"benchmark": "playground race", "results": results, "machine": machine()}
                )
                + "\n"
            )


if __name__ == "__main__":
    main()
