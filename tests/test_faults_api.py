"""The Python API, round 3: ``save`` refuses what ``load`` would refuse, every function that takes
data refuses an empty block naming it, and none changes the caller's arrays."""

import json
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import chainrule
from chainrule import Network


# ---------------------------------------------------------------------------- 6. symmetry
def test_save_refuses_what_load_would_refuse(tmp_path):
    net = Network([2, 3, 1], loss="mse", seed=0)
    path = tmp_path / "m.npz"
    nested: dict = {}
    deep = nested
    for _ in range(40):
        deep["x"] = {}
        deep = deep["x"]
    for metadata, message in [
        ({"notes": "x" * 11_000_000}, "header would be 11,0.* characters, more than the "
                                      "10,000,000"),
        ({"notes": nested}, "nested deeper than 32 levels"),
        ({"scaling": {"mean": [0.0], "scale": [1.0]}}, "scaling.mean must be 2"),
        ({"classes": ["a", "a"]}, "classes must be a list of different labels"),
    ]:
        with pytest.raises(ValueError, match=f"not saved: .*{message}"):
            net.save(path, metadata=metadata)
        assert not path.exists() and net.metadata == {}
    net.metadata = {"notes": "x" * 11_000_000}
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="not saved: the header would be"):
        net.fit(rng.normal(size=(8, 2)), rng.normal(size=(8, 1)), epochs=1,
                checkpoint=str(tmp_path / "ck.npz"))
    assert list(tmp_path.iterdir()) == []


JSON_VALUES = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70),
              st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=6)),
    lambda children: st.one_of(st.lists(children, max_size=4),
                               st.dictionaries(st.text(max_size=6), children, max_size=4)),
    max_leaves=12)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(metadata=st.dictionaries(st.sampled_from(
    ["task", "classes", "scaling", "target_scaling", "feature_names", "target_name", "notes",
     "preparation"]), JSON_VALUES, max_size=3))
def test_what_save_writes_load_reads(tmp_path, metadata):
    net = Network([2, 3, 2], output_activation="softmax", loss="categorical_cross_entropy",
                  seed=0)
    path = tmp_path / "m.npz"
    try:
        net.save(path, metadata=metadata)
    except ValueError as exc:
        assert "not saved" in str(exc) and not path.exists()
        return
    assert chainrule.load(str(path)).metadata == json.loads(json.dumps(metadata))
    path.unlink()


# ---------------------------------------------------------------------------- 7. the API
def empty_cases():
    from chainrule.gradcheck import gradcheck
    from chainrule.metrics import Metrics, score
    from chainrule.preparation import prepare
    from chainrule.sklearn import GDClassifier, GDRegressor

    net = Network([2, 3, 1], loss="mse", seed=0)
    X, Y = np.ones((4, 2)), np.ones((4, 1))
    E, EY = np.empty((0, 2)), np.empty((0, 1))
    return {
        "fit X": lambda: net.fit(E, Y, epochs=1),
        "fit Y": lambda: net.fit(X, EY, epochs=1),
        "fit validation": lambda: net.fit(X, Y, epochs=1, validation_data=(E, EY)),
        "predict": lambda: net.predict(E),
        "loss": lambda: net.loss(E, EY),
        "evaluate": lambda: net.evaluate(E, EY),
        "gradients": lambda: net.gradients(E, EY),
        "gradcheck": lambda: gradcheck(net, E, EY),
        "explain": lambda: net.explain(E, EY, 0, (0, 0)),
        "trainer": lambda: net.trainer(E, EY, epochs=1),
        "metrics": lambda: Metrics(net).add(E, EY),
        "score": lambda: score(net, E, EY),
        "classifier fit": lambda: GDClassifier(epochs=1).fit(E, []),
        "classifier partial_fit": lambda: GDClassifier(epochs=1).partial_fit(E, [],
                                                                               classes=[0, 1]),
        "regressor fit": lambda: GDRegressor(epochs=1).fit(E, []),
        "prepare a dict": lambda: prepare({"a": [], "t": []}, target="t"),
        "prepare an array": lambda: prepare(np.empty((0, 3))),
    }


@pytest.mark.parametrize("name", sorted(empty_cases()))
def test_every_function_that_takes_data_refuses_an_empty_block(name):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ValueError, match=r"empty|no samples|0 sample|no values|no rows"):
            empty_cases()[name]()


def test_the_python_api_never_changes_the_callers_arrays():
    from chainrule.gradcheck import gradcheck
    from chainrule.metrics import score
    from chainrule.preparation import prepare
    from chainrule.sklearn import GDClassifier, GDRegressor

    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(20, 2)), rng.normal(size=(20, 1))
    y = np.arange(20) % 2
    Yc = np.eye(2)[y]
    arrays = [X, Y, y, Yc]
    copies = [a.copy() for a in arrays]
    for a in arrays:
        a.setflags(write=False)  # a write in place would raise
    net = Network([2, 3, 1], loss="mse", seed=0)
    classifier = Network([2, 3, 2], output_activation="softmax",
                         loss="categorical_cross_entropy", seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        net.fit(X, Y, epochs=3, batch_size=5, validation_data=(X, Y), early_stopping=2,
                record_predictions=True)
        classifier.fit(X, Yc, epochs=3, batch_size=4, validation_data=(X, Yc))
        net.predict(X), net.loss(X, Y), net.evaluate(X, Y), net.gradients(X, Y)
        gradcheck(net, X, Y), net.explain(X[:1], Y[:1], 0, (0, 0)), score(net, X, Y)
        net.trainer(X, Y, epochs=2, batch_size=3).step(watch=True)
        GDClassifier(epochs=3, early_stopping=True).fit(X, y).score(X, y)
        GDRegressor(epochs=3).fit(X, Y[:, 0]).score(X, Y[:, 0])
        GDClassifier(epochs=3).partial_fit(X, y, classes=[0, 1]).predict_proba(X)
        prepare(np.column_stack([X, y])), prepare({"a": X[:, 0], "b": X[:, 1], "t": y})
    for array, copy in zip(arrays, copies):
        np.testing.assert_array_equal(array, copy)
