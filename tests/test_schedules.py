"""linear_warmup and plateau: their formulas, what plateau monitors, and a run with them resumed
from a checkpoint bit for bit (PyTorch agreement: tests/test_torch_oracle)."""

import numpy as np
import pytest

from chainrule import Network
from chainrule.schedules import SCHEDULES, LinearWarmup, Plateau, get_schedule


def test_linear_warmup_climbs_to_the_rate_then_holds_it():
    schedule = LinearWarmup(warmup_epochs=4, start=0.25)
    rates = [schedule(0.2, epoch, 10) for epoch in range(7)]
    assert rates == pytest.approx([0.05, 0.0875, 0.125, 0.1625, 0.2, 0.2, 0.2], rel=1e-15)
    assert LinearWarmup().settings() == {"warmup_epochs": 5, "start": 1.0 / 3.0}


def plateau_rates(schedule, losses, lr=1.0):
    """The rate of each epoch, each epoch's loss observed at its end as the loop does."""
    rates = []
    for epoch, loss in enumerate(losses):
        rate = schedule(lr, epoch, len(losses))
        rates.append(rate)
        schedule.observe({"loss": loss, "learning_rate": rate})
    return rates


def test_plateau_cuts_the_rate_after_patience_epochs_without_a_relative_improvement():
    schedule = Plateau(factor=0.5, patience=2, threshold=0.1, min_lr=0.2)
    # 10 -> 9.5 is not 10% better: bad epochs follow until the third, then the rate halves
    losses = [10.0, 9.5, 9.2, 9.1, 8.0, 8.0, 8.0, 8.0, 8.0, 8.0, 8.0, 8.0, 8.0]
    rates = plateau_rates(schedule, losses)
    assert rates == [1.0, 1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25, 0.2, 0.2]


def test_plateau_watches_the_validation_loss_when_there_is_one():
    schedule = Plateau(factor=0.1, patience=0)
    schedule(1.0, 0, 3)
    schedule.observe({"loss": 1.0, "val_loss": 2.0, "learning_rate": 1.0})
    schedule.observe({"loss": 0.5, "val_loss": 2.5, "learning_rate": 1.0})  # val got worse
    assert schedule(1.0, 2, 3) == pytest.approx(0.1)
    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(30, 2)), rng.normal(size=(30, 1))
    X_val, Y_val = rng.normal(size=(10, 2)), 10 + rng.normal(size=(10, 1))
    watched = Network([2, 4, 1], loss="mse", seed=0).fit(
        X, Y, epochs=8, learning_rate=0.1, schedule=Plateau(factor=0.5, patience=0,
                                                             threshold=0.0),
        validation_data=(X_val, Y_val))
    alone = Network([2, 4, 1], loss="mse", seed=0).fit(
        X, Y, epochs=8, learning_rate=0.1, schedule=Plateau(factor=0.5, patience=0,
                                                            threshold=0.0))
    assert watched["learning_rate"] != alone["learning_rate"]
    # each run's rates are a Plateau's fed what the history records, replayed by hand: the
    # validation loss when there is one, else the training loss
    for history, watches in ((watched, "val_loss"), (alone, "loss")):
        rates = [0.1]  # epoch 0 starts at the initial rate
        best, bad = np.inf, 0
        for value in history[watches][:-1]:
            rate = rates[-1]
            if value < best:  # threshold 0: any decrease improves
                best, bad = value, 0
            else:
                bad += 1
            if bad > 0:  # patience 0: the first epoch without improvement halves it
                rate, bad = rate * 0.5, 0
            rates.append(rate)
        assert history["learning_rate"] == rates
    assert watched["learning_rate"][-1] < 0.1  # the validation loss did stall


def test_one_plateau_object_serves_run_after_run():
    schedule = Plateau(factor=0.5, patience=0)
    first = plateau_rates(schedule, [3.0, 3.0, 3.0, 3.0])
    assert plateau_rates(schedule, [3.0, 3.0, 3.0, 3.0]) == first == [1.0, 1.0, 0.5, 0.25]


def test_replaying_the_records_stands_where_observing_them_did():
    schedule = Plateau(factor=0.5, patience=1, threshold=0.01)
    losses = [5.0, 4.0, 4.0, 3.99, 3.99, 2.0, 2.0]
    rates = plateau_rates(schedule, losses)
    replayed = Plateau(factor=0.5, patience=1, threshold=0.01)
    replayed.replay({"loss": losses, "learning_rate": rates, "val_loss": losses[:3]})
    assert vars(replayed) == vars(schedule)


@pytest.mark.parametrize("name, settings, message", [
    ("linear_warmup", {"warmup_epochs": 0}, "warmup_epochs"),
    ("linear_warmup", {"start": 0.0}, "start"),
    ("plateau", {"factor": 1.0}, "factor"),
    ("plateau", {"patience": 1.5}, "patience"),
    ("plateau", {"threshold": -0.1}, "threshold"),
    ("plateau", {"min_lr": float("nan")}, "min_lr"),
])
def test_bad_settings_are_refused(name, settings, message):
    with pytest.raises(ValueError, match=message):
        get_schedule(name, **settings)


def test_the_registry_offers_them():
    assert {"linear_warmup", "plateau"} <= set(SCHEDULES)
    assert SCHEDULES["plateau"]().settings() == {"factor": 0.1, "patience": 10,
                                                 "threshold": 1e-4, "min_lr": 0.0}


@pytest.mark.parametrize("schedule", [
    lambda: Plateau(factor=0.5, patience=0, threshold=0.02),
    lambda: LinearWarmup(warmup_epochs=7, start=0.1)])
def test_ten_epochs_straight_equal_five_then_a_checkpoint_then_five(tmp_path, schedule):
    rng = np.random.default_rng(5)
    X, Y = rng.normal(size=(20, 3)), rng.normal(size=(20, 2))

    def network():
        return Network([3, 5, 2], activation="silu", loss="mse", seed=2)

    settings = dict(learning_rate=0.3, optimizer="nadam", batch_size=6)
    straight = network()
    full = straight.fit(X, Y, epochs=10, schedule=schedule(), **settings)
    assert len(set(full["learning_rate"][5:])) > 1  # the rate moves in the resumed half
    path = str(tmp_path / "checkpoint.npz")
    network().fit(X, Y, epochs=5, checkpoint=path, checkpoint_every=5, schedule=schedule(),
                  **settings)
    resumed = network()
    history = resumed.fit(X, Y, epochs=10, resume_from=path, schedule=schedule(), **settings)
    for p, q in zip(straight.parameters(), resumed.parameters()):
        np.testing.assert_array_equal(p, q)
    assert history["learning_rate"] == full["learning_rate"]
    assert history["loss"] == full["loss"]


def test_a_checkpoint_refuses_another_schedule_setting_and_an_older_one_resumes(tmp_path):
    from chainrule.training import Trainer

    rng = np.random.default_rng(3)
    X, Y = rng.normal(size=(12, 2)), rng.normal(size=(12, 1))
    path = str(tmp_path / "checkpoint.npz")
    Network([2, 3, 1], loss="mse", seed=0).fit(X, Y, epochs=2, checkpoint=path,
                                               schedule=Plateau(factor=0.5))
    with pytest.raises(ValueError, match="schedule_settings=.*'factor': 0.5.*'factor': 0.1"):
        Network([2, 3, 1], loss="mse", seed=0).fit(
            X, Y, epochs=4, resume_from=path, schedule=Plateau(factor=0.1, patience=0))
    history = Network([2, 3, 1], loss="mse", seed=0).fit(
        X, Y, epochs=4, resume_from=path, schedule=Plateau(factor=0.5))
    assert history.epochs == 4 and history.params["schedule_settings"]["factor"] == 0.5
    # a state saved before the schedule's settings were: resumed, not checked for them
    trainer = Trainer(Network([2, 3, 1], loss="mse", seed=0), X, Y, epochs=2,
                      schedule=Plateau(factor=0.5))
    trainer.run_epoch()
    state = trainer.state_dict()
    del state["history"]["params"]["schedule_settings"]
    later = Trainer(Network([2, 3, 1], loss="mse", seed=0), X, Y, epochs=2,
                    schedule=Plateau(factor=0.1, patience=0))
    later.load_state_dict(state)
    assert later.epoch == 1
