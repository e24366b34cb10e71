import json
import os
import zipfile

import numpy as np
import pytest

import chainrule
from chainrule import Network
from chainrule.persistence import ModelFileError, atomic_write


def trained(dtype="float64"):
    net = Network([3, 4, 2], activation=["tanh", "softmax"], bias=[True, False],
                  loss="categorical_cross_entropy", seed=0, dtype=dtype)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(20, 3))
    Y = np.eye(2)[rng.integers(0, 2, 20)]
    net.fit(X, Y, epochs=5, learning_rate=0.1)
    return net, X, Y


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_save_load_round_trip_gives_identical_predictions(tmp_path, dtype):
    net, X, _ = trained(dtype)
    net.metadata = {"classes": ["a", "b"]}
    path = tmp_path / "model.npz"
    net.save(str(path))
    loaded = chainrule.load(str(path))
    assert loaded.sizes == net.sizes and loaded.activations == net.activations
    assert loaded.bias == net.bias and loaded.dtype == net.dtype
    assert loaded.metadata == {"classes": ["a", "b"]}
    np.testing.assert_array_equal(loaded.predict(X), net.predict(X))
    assert [p.name for p in tmp_path.iterdir()] == ["model.npz"]  # no temporary left


def test_a_custom_leaky_relu_slope_survives_the_round_trip(tmp_path):
    from chainrule.activations import LeakyReLU

    net = Network([2, 3, 1], activation=[LeakyReLU(0.2), "identity"], seed=0)
    net.save(str(tmp_path / "leaky.npz"))
    loaded = chainrule.load(str(tmp_path / "leaky.npz"))
    assert loaded.activation_functions[0].slope == 0.2
    X = np.array([[-1.0, -2.0], [0.5, -0.3]])
    np.testing.assert_array_equal(loaded.predict(X), net.predict(X))


def test_model_file_holds_no_pickle(tmp_path):
    net, _, _ = trained()
    path = tmp_path / "model.npz"
    net.save(str(path))
    with np.load(path, allow_pickle=False) as archive:
        assert all(archive[name].dtype != object for name in archive.files)
        header = json.loads(str(archive["chainrule.json"]))
    assert header["format"] == "chainrule" and header["format_version"] == 3


def rewrite(path, change):
    with np.load(path, allow_pickle=False) as archive:
        arrays = {name: archive[name] for name in archive.files}
    change(arrays)
    with open(path, "wb") as handle:
        np.savez(handle, **arrays)


def edit_header(key, value):
    def change(arrays):
        header = json.loads(str(arrays["chainrule.json"]))
        header["architecture"][key] = value
        arrays["chainrule.json"] = np.array(json.dumps(header))

    return change


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda p: p.write_bytes(p.read_bytes()[: len(p.read_bytes()) // 2]),
         "truncated or corrupted"),
        (lambda p: p.write_bytes(b"not a zip at all"), "truncated or corrupted|not a chainrule"),
        (lambda p: p.write_bytes(b""), "truncated or corrupted|not a chainrule"),
        (lambda p: rewrite(p, lambda a: a.__setitem__("layers.0.weight", np.ones((3, 5)))),
         "layers.0.weight is float64\\[3, 5\\], expected float64\\[3, 4\\]"),
        (lambda p: rewrite(p, lambda a: a["layers.0.weight"].__setitem__((0, 0), 9.0)),
         "checksum mismatch"),
        (lambda p: rewrite(p, lambda a: a.__setitem__("extra", np.ones(2))),
         "a member the format does not define: .extra.npy."),
        (lambda p: rewrite(p, lambda a: a.pop("layers.1.weight")), "missing"),
        (lambda p: rewrite(p, edit_header("activations", ["tanh", "os.system"])),
         "unknown or malformed activations"),
        (lambda p: rewrite(p, edit_header("loss", "__import__")), "unknown loss"),
        (lambda p: rewrite(p, edit_header("sizes", [3, 4, 2, 7])), "activations|bias"),
        (lambda p: rewrite(p, lambda a: a.__setitem__("chainrule.json", np.array("{"))),
         "not valid JSON"),
        (lambda p: rewrite(p, lambda a: a.__setitem__("layers.0.weight",
                                                      np.full((3, 4), np.nan))),
         "non-finite"),
    ],
)
def test_damaged_or_tampered_files_are_refused(tmp_path, damage, message):
    net, _, _ = trained()
    path = tmp_path / "model.npz"
    net.save(str(path))
    damage(path)
    with pytest.raises(ModelFileError, match=message):
        chainrule.load(str(path))


def test_object_arrays_are_never_unpickled(tmp_path):
    path = tmp_path / "evil.npz"
    with open(path, "wb") as handle:
        np.savez(handle, **{"chainrule.json": np.array([{"a": 1}], dtype=object)})
    with pytest.raises(ModelFileError):
        chainrule.load(str(path))


def test_newer_format_is_refused_with_advice(tmp_path):
    net, _, _ = trained()
    path = tmp_path / "model.npz"
    net.save(str(path))

    def bump(arrays):
        header = json.loads(str(arrays["chainrule.json"]))
        header["format_version"] = 99
        arrays["chainrule.json"] = np.array(json.dumps(header))

    rewrite(path, bump)
    with pytest.raises(ModelFileError, match="upgrade chainrule"):
        chainrule.load(str(path))


def test_atomic_write_leaves_the_old_file_when_writing_fails(tmp_path):
    path = tmp_path / "model.npz"
    path.write_bytes(b"old")
    with pytest.raises(RuntimeError), atomic_write(str(path)) as handle:
        handle.write(b"half")
        raise RuntimeError("crash")
    assert path.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["model.npz"]


@pytest.mark.parametrize("optimizer", ["gd", "adam", "momentum"])
@pytest.mark.parametrize("batch_size", [None, 4])
def test_stopped_and_resumed_run_ends_bit_identical(tmp_path, optimizer, batch_size):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(18, 3))
    Y = np.eye(2)[rng.integers(0, 2, 18)]

    def network():
        return Network([3, 5, 2], activation="relu", output_activation="softmax",
                       loss="categorical_cross_entropy", seed=3)

    settings = dict(learning_rate=0.05, optimizer=optimizer, batch_size=batch_size,
                    schedule="exponential")
    straight = network()
    full = straight.fit(X, Y, epochs=12, **settings)

    checkpoint = str(tmp_path / "ckpt.npz")
    first = network()
    first.fit(X, Y, epochs=5, checkpoint=checkpoint, checkpoint_every=5, **settings)
    resumed = network()  # a fresh process would start from scratch like this
    history = resumed.fit(X, Y, epochs=12, resume_from=checkpoint, **settings)
    for p, q in zip(straight.parameters(), resumed.parameters()):
        np.testing.assert_array_equal(p, q)
    assert history["loss"] == full["loss"]
    assert history.updates == full.updates


def test_resume_refuses_another_network_or_optimizer(tmp_path):
    X = np.random.default_rng(0).normal(size=(6, 3))
    Y = np.eye(2)[[0, 1, 0, 1, 1, 0]]
    net = Network([3, 2], activation="softmax", loss="categorical_cross_entropy", seed=0)
    checkpoint = str(tmp_path / "c.npz")
    net.fit(X, Y, epochs=2, checkpoint=checkpoint)
    other = Network([3, 4, 2], activation=["tanh", "softmax"], loss="categorical_cross_entropy")
    with pytest.raises(ValueError, match="not this one"):
        other.fit(X, Y, epochs=4, resume_from=checkpoint)
    with pytest.raises(ValueError, match="optimizer"):
        Network([3, 2], activation="softmax", loss="categorical_cross_entropy").fit(
            X, Y, epochs=4, resume_from=checkpoint, optimizer="adam")
    assert zipfile.is_zipfile(checkpoint)


def test_format_version_1_files_still_load(tmp_path):
    """Files written before the header was signed: their checksum covers the arrays only."""
    from chainrule.model_archive import digest

    net, X, _ = trained()
    path = tmp_path / "old.npz"
    net.save(str(path))
    with np.load(path, allow_pickle=False) as archive:
        arrays = {name: archive[name] for name in archive.files}
    header = json.loads(str(arrays.pop("chainrule.json")))
    header["format_version"] = 1
    header["checksum"] = digest(arrays, None)
    with open(path, "wb") as handle:
        np.savez(handle, **{"chainrule.json": np.array(json.dumps(header))}, **arrays)
    np.testing.assert_array_equal(chainrule.load(str(path)).predict(X), net.predict(X))


def test_the_streamed_digest_is_the_digest_of_the_arrays(tmp_path, monkeypatch):
    """The playground's check (the stored bytes hashed a chunk at a time) and loading's (the
    arrays read whole) compute one checksum, over every kind of member a checkpoint holds."""
    from chainrule import model_archive
    from chainrule.model_archive import HEADER, Archive, check_checksums, digest

    X = np.random.default_rng(0).normal(size=(9, 3))
    Y = np.eye(2)[np.arange(9) % 2]
    path = str(tmp_path / "ckpt.npz")
    Network([3, 4, 2], activation="tanh", output_activation="softmax",
            loss="categorical_cross_entropy", seed=0).fit(
        X, Y, epochs=3, batch_size=4, optimizer="adam", checkpoint=path, checkpoint_every=3)
    with np.load(path, allow_pickle=False) as stored:
        arrays = {name: stored[name] for name in stored.files if name != HEADER}
        header = json.loads(str(stored[HEADER]))
    assert {name.split(".")[0] for name in arrays} == {"layers", "optimizer", "trainer",
                                                       "history"}
    monkeypatch.setattr(model_archive, "_CHUNK", 7)  # many chunks, one cut inside a number
    archive = Archive(path)
    try:
        assert archive.stored_digest(list(arrays), header) == digest(arrays, header) \
            == header["checkpoint_checksum"]
        check_checksums(path, header, list(arrays), archive.stored_digest)
        header["checkpoint"]["epoch"] += 1
        with pytest.raises(ModelFileError, match="the model was altered"):
            check_checksums(path, header, list(arrays), archive.stored_digest)
    finally:
        archive.close()
