"""The playground's latency budget: a training step with its redraw, and a derivation.

Budgets (issue #15): one step of a 2-8-8-1 network on 500 points plus the data the page
redraws (network, heat map, loss curve; JSON-encoded as the server sends it) within
50 ms; the derivation of a clicked weight within 200 ms. Times are wall-clock in this
process (one tab; the server adds a thread hop), median and worst of ``--rounds``.

    python -m benchmarks.bench_playground [--rounds 50]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

from chainrule.playground.session import Session, Target


def _time(fn, rounds: int) -> list[float]:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        fn()
        times.append(1000 * (time.perf_counter() - started))
    return times


def _row(name: str, times: list[float], budget: float) -> str:
    median, worst = statistics.median(times), max(times)
    verdict = "ok" if worst <= budget else ("median ok" if median <= budget else "OVER")
    return (
        f"{name:<52} median {median:7.2f} ms   worst {worst:7.2f} ms   "
        f"budget {budget:.0f} ms  {verdict}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=50)
    args = parser.parse_args()
    session = Session()
    session.set_toy({"kind": "spiral", "n": 500, "train_ratio": 1.0})
    session.set_config({"hidden": [8, 8], "optimizer": "adam", "lr": 0.01})
    assert session.data.x_train.shape == (500, 2)

    def step_and_frame() -> None:
        session.step()
        json.dumps(session.frame())

    for batch, label in ((0, "all 500 rows"), (32, "batches of 32")):
        session.set_config({"batch_size": batch})
        for _ in range(5):  # warm up
            step_and_frame()
        print(_row(f"step + redraw, 2-8-8-1, {label}", _time(step_and_frame, args.rounds), 50))
    session.set_config({"batch_size": 0})
    for target, label in (
        (Target("weight", 0, 3, 1), "first-layer weight"),
        (Target("weight", 2, 0, 5), "output weight"),
        (Target("unit", 1, 4), "hidden unit"),
    ):
        times = _time(lambda t=target: json.dumps(session.derivation(t)), max(args.rounds // 5, 3))
        print(_row(f"derivation on click, 500 rows, {label}", times, 200))
    _through_the_server(args.rounds)


def _through_the_server(rounds: int) -> None:
    """The same, as the page sees it: a message over the WebSocket until its answer
    is received and decoded (Starlette's TestClient, in process; no browser)."""
    try:
        from starlette.testclient import TestClient
    except ImportError:
        print("(no starlette: the round trips through the server are not measured)")
        return
    from chainrule.playground.server import create_app

    with TestClient(create_app()) as client, client.websocket_connect("/ws") as ws:
        ws.receive_json(), ws.receive_json()  # the data and the first frame

        def ask(message: dict, answers: int = 1) -> None:
            ws.send_text(json.dumps(message))
            for _ in range(answers):
                ws.receive_json()

        ask({"type": "data", "data": {"kind": "spiral", "n": 500, "train_ratio": 1.0}}, 2)
        ask({"type": "config", "config": {"hidden": [8, 8], "optimizer": "adam", "lr": 0.01}})
        times = _time(lambda: ask({"type": "step"}), rounds)
        print(_row("WebSocket round trip: step -> frame", times, 50))
        target = {"kind": "weight", "layer": 0, "row": 3, "col": 1}
        times = _time(lambda: ask({"type": "select", "target": target}), max(rounds // 5, 3))
        print(_row("WebSocket round trip: click -> derivation", times, 200))


if __name__ == "__main__":
    main()
