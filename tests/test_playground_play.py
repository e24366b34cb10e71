"""Play: a request of several updates answers the state after each one, the engine's numbers
bit for bit as one step at a time gives them, with the curves in order, the points once, the
metrics on the last, and an early end where a stop rule pauses play."""

from __future__ import annotations

import base64

import httpx
import numpy as np
import pytest
from browser import TOKEN, server_thread

from chainrule.playground.session import MAX_PLAYED, PLAY_BYTES, Session
from chainrule.playground.store import Busy

SMALL = {"data": {"source": "generator", "name": "circle", "samples": 60, "noise": 0.05,
                  "classes": 2, "seed": 2},
         "hidden": [4, 3], "activations": ["tanh", "tanh", "sigmoid"],
         "loss": "binary_cross_entropy", "batch_size": 9, "learning_rate": 0.3, "epochs": 50}


def weights(state):
    return [np.frombuffer(base64.b64decode(w), "<f8") for w in state["weights"]]


def test_each_update_of_a_request_is_the_state_one_step_at_a_time_gives():
    played, stepped = Session(SMALL), Session(SMALL)
    states = played.play(12, since=0, points=False)
    assert [s["position"] for s in states] == list(range(1, 13))
    for state in states:
        stepped.step("batch", 1)
        alone = stepped.state(0, points=False)
        assert all(np.array_equal(a, b) for a, b in zip(weights(state), weights(alone)))
        assert state["gradients"] == alone["gradients"] and state["pictures"] == alone["pictures"]
        assert state["step_loss"] == alone["step_loss"]
    # and a URL naming the last position replays to the same weights
    replayed = Session(SMALL)
    replayed.furthest = 12  # as the server opens a URL's run
    replayed.goto(12)
    assert all(np.array_equal(a, b.ravel()) for a, b in zip(weights(states[-1]),
                                                           replayed.net.weights))


def test_the_curves_come_in_order_the_points_once_the_metrics_last():
    session = Session(SMALL)  # 45 training rows in batches of 9: an epoch every 5 updates
    states = session.play(MAX_PLAYED, since=0)
    assert len(states) == MAX_PLAYED
    curves: dict[str, list[float]] = {}
    for state in states:
        for key, values in state["curves"].items():
            assert len(curves.get(key, [])) == state["curves_from"]
            curves[key] = curves.get(key, []) + values
    assert curves == session.curves and len(curves["loss"]) == MAX_PLAYED // 5
    assert "points" in states[0]["pictures"]
    assert not any("points" in s["pictures"] for s in states[1:])
    assert "metrics" in states[-1] and not any("metrics" in s for s in states[:-1])
    assert "metrics" not in session.play(3, since=len(curves["loss"]), metrics=False)[-1]


def test_play_ends_on_the_update_a_stop_rule_pauses_at():
    session = Session({**SMALL, "batch_size": 0, "target_loss": 0.69, "learning_rate": 1.0})
    played = []
    while not played or not played[-1]["stopped"]:
        played += session.play(MAX_PLAYED)
        assert len(played) < 400, "the target loss was never reached"
    assert session.stopped and session.state()["stopped"] == played[-1]["stopped"]
    assert [s["position"] for s in played] == list(range(1, len(played) + 1))
    assert session.play(2)[0]["position"] == len(played) + 1  # asked again: it goes on


def test_play_ends_with_training():
    session = Session({**SMALL, "batch_size": 0, "epochs": 3})
    states = session.play(10)
    assert len(states) == 3 and states[-1]["finished"]


@pytest.mark.parametrize("count", [0, MAX_PLAYED + 1, "3", 2.5])
def test_a_count_outside_one_to_the_most_is_refused(count):
    with pytest.raises(ValueError, match="count"):
        Session(SMALL).play(count)


def test_the_play_route_answers_the_states():
    with server_thread() as (url, _), httpx.Client(
            base_url=url, headers={"Authorization": f"token {TOKEN}"}, timeout=30) as client:
        key = client.post("/api/session", json={"config": SMALL}).json()["session"]
        answer = client.post(f"/api/session/{key}/play",
                             json={"count": 4, "since": 0, "points": False, "metrics": False})
        assert answer.status_code == 200, answer.text
        assert [s["position"] for s in answer.json()["states"]] == [1, 2, 3, 4]
        refused = client.post(f"/api/session/{key}/play", json={"count": MAX_PLAYED + 1})
        assert refused.status_code == 400 and "count" in refused.json()["error"]


class Budget:
    """A server's budget that records what play reserves and gives back, or has no room."""

    def __init__(self, room: bool = True):
        self.room, self.calls = room, []

    def reserve(self, nbytes):
        if not self.room and self.calls:  # the session's own reservation first
            raise Busy("no room")
        self.calls.append(("reserve", nbytes))

    def release(self, nbytes):
        self.calls.append(("release", nbytes))


def test_play_reserves_its_states_beyond_one_answer_and_gives_them_back():
    budget = Budget()
    session = Session(SMALL, budget=budget)
    each = session._answer_bytes(True)
    assert len(session.play(5)) == 5
    assert budget.calls[1:] == [("reserve", 4 * each), ("release", 4 * each)]
    assert session._answer_bytes(False) < each  # no pictures asked for: smaller states


def test_play_without_room_makes_one_update():
    session = Session(SMALL, budget=Budget(room=False))
    assert [s["position"] for s in session.play(5)] == [1]


def test_large_states_make_fewer_updates_a_request():
    wide = {**SMALL, "hidden": [600, 600]}  # 364,000 weights: 23 MB an answer
    session = Session(wide)
    assert session._answer_bytes(True) > PLAY_BYTES
    assert len(session.play(3, metrics=False)) == 1
