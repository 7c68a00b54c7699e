#!/usr/bin/env python3
"""How fast `agentcost tui` opens and pages on a large store (the issue: under 1.5 s on
1,000,000 events, and smooth scrolling).

    python bench/tui.py --db bench/data/tui-1m.db            # reuse a store
    python bench/tui.py --events 1000000                      # generate and ingest one first (~2 min)

Each run starts a fresh process that builds the app exactly as `agentcost tui` does (local
mode, headless at 200x60), and prints, from the moment the process was started:
- "open": when the Overview's figures were drawn (the issue's target);
- "budgets": when the budget gauges were filled (a separate worker);
- then the time each other screen took to load after switching to it;
- "events page N": the Events screen's fetch of its Nth page of 100 rows (keyset paging).
The app's clock is set to the store's newest event (so "today" and "this month" hold data).
Figures are printed; nothing is asserted (see bench/README.md).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
TARGET_OPEN_S = 1.5

CHILD = r"""
import json, sys, time
t_import = time.time()
from datetime import UTC, datetime
from agentcost_cli.services import clock
from agentcost_cli.tui.backends import local_opener
from agentcost_cli.tui.factory import make_app
from agentcost_cli.tui.screens.base import DataScreen

db, now_text = sys.argv[1], sys.argv[2]
now = datetime.fromisoformat(now_text)
marks = {"imported": time.time()}
order = ["overview", "explore", "events", "budgets", "pricing", "projects"]
app = make_app(local_opener(db), location="bench", clock=lambda: now, refresh_seconds=0)
original = app.mark_refreshed
state = {"next": 1, "switched": None}

def loaded() -> None:
    original()
    mode = app.current_mode
    if mode in marks:
        return
    marks[mode] = time.time()
    if mode == "overview":
        app.set_timer(120, give_up)
        app.call_later(wait_budgets)
        return
    advance()

def wait_budgets() -> None:
    screen = app.screen
    if getattr(screen, "budgets", None) is None:
        app.set_timer(0.005, wait_budgets)
        return
    marks["gauges"] = time.time()
    advance()

def advance() -> None:
    if state["next"] >= len(order):
        app.call_later(page_events)
        return
    mode = order[state["next"]]
    state["next"] += 1
    marks["switch:" + mode] = time.time()
    app.switch_mode(mode)

async def page_events() -> None:
    from agentcost_cli.store.base import EventFilter
    pages = []
    cursor = None
    for _ in range(30):
        t0 = time.perf_counter()
        page = await app.runner.call(lambda b: b.list_events(EventFilter(), limit=100, cursor=cursor))
        pages.append(time.perf_counter() - t0)
        cursor = page["next_cursor"]
    marks["pages"] = pages
    print("MARKS " + json.dumps(marks), flush=True)
    app.exit()

def give_up() -> None:
    print("MARKS " + json.dumps({**marks, "timeout": True}), flush=True)
    app.exit()

app.mark_refreshed = loaded
with clock.frozen(now):
    app.run(headless=True, size=(200, 60))
"""


def newest_event(db: Path) -> str:
    import sqlite3

    with sqlite3.connect(db) as conn:
        (ts,) = conn.execute("SELECT max(ts_utc) FROM events").fetchone()
    return str(ts).replace("Z", "+00:00")


def build(db: Path, events: int) -> None:
    source = db.with_suffix(".jsonl")
    subprocess.run([sys.executable, str(HERE / "gen_native.py"), str(source), "--events", str(events)], check=True,
                   stdout=subprocess.DEVNULL)
    subprocess.run([sys.executable, "-m", "agentcost_cli", "--db", str(db), "ingest", str(source), "-q"], check=True)
    source.unlink()


def one_run(db: Path, now: str) -> dict:
    started = time.time()
    result = subprocess.run([sys.executable, "-c", CHILD, str(db), now], capture_output=True, text=True, timeout=300)
    line = next((ln for ln in result.stdout.splitlines() if ln.startswith("MARKS ")), None)
    if line is None:
        raise SystemExit(f"the app did not finish:\n{result.stdout[-2000:]}\n{result.stderr[-4000:]}")
    marks = json.loads(line[6:])
    if marks.get("timeout"):
        raise SystemExit(f"a screen did not finish loading within 120 s: {sorted(marks)}")
    out = {"open": marks["overview"] - started, "budgets": marks["gauges"] - started,
           "imported": marks["imported"] - started}
    for mode in ("explore", "events", "budgets", "pricing", "projects"):
        out[f"screen {mode}"] = marks[mode] - marks["switch:" + mode]
    out["pages"] = marks["pages"]
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", type=Path, default=HERE / "data" / "tui-1m.db")
    parser.add_argument("--events", type=int, default=1_000_000, help="events to generate when --db does not exist")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    if not args.db.exists():
        args.db.parent.mkdir(parents=True, exist_ok=True)
        print(f"building {args.db} with {args.events:,} events...", file=sys.stderr)
        build(args.db, args.events)
    now = newest_event(args.db)
    runs = [one_run(args.db, now) for _ in range(args.runs)]
    print(f"store: {args.db} (clock at its newest event, {now}); {args.runs} runs, median (min-max) in seconds")
    for key in ("imported", "open", "budgets", "screen explore", "screen events", "screen budgets", "screen pricing",
                "screen projects"):
        values = [r[key] for r in runs]
        print(f"  {key:<17} {statistics.median(values):6.3f}  ({min(values):.3f}-{max(values):.3f})")
    pages = [p for r in runs for p in r["pages"]]
    print(f"  events pages     median {statistics.median(pages) * 1000:.1f} ms, max {max(pages) * 1000:.1f} ms "
          f"over {len(pages)} page fetches of 100 rows (pages 1-30)")
    opened = statistics.median(r["open"] for r in runs)
    print(f"TARGET {'MET' if opened < TARGET_OPEN_S else 'MISSED'}: open {opened:.2f} s (target < {TARGET_OPEN_S} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
