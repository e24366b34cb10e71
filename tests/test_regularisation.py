"""L1, the elastic net and gradient clipping, in the one step every way of training takes."""

import copy
import tracemalloc

import numpy as np
import pytest

from chainrule import Network
from chainrule.training import Descent, check_options
from chainrule.training.step import add_l1, clip_by_norm, clip_by_value


def problem(n=8, seed=3):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 3)), rng.normal(size=(n, 2))


def network(seed=5):
    return Network([3, 4, 2], activation="tanh", seed=seed)


class Recorder:
    """An optimizer stand-in that keeps the gradient it is given."""

    name, steps = "record", 0

    def step(self, parameters, gradients, learning_rate):
        self.gradient = gradients[0].copy()
        self.steps += 1


def stepped(net, X, Y, **settings):
    """``(loss returned by the step, gradient handed to the optimizer)`` for one step."""
    recorder = Recorder()
    descent = Descent(net, recorder, settings.pop("l2", 0.0), 0.1, **settings)
    error = descent(net.compute_gradients(*net.check_data(X, Y)))
    return error, recorder.gradient


def plain(net, X, Y):
    error = net.compute_gradients(*net.check_data(X, Y))
    return error, net.flat_gradients().copy()


def weight_mask(net):
    """1 where the flat parameters hold a weight, 0 where a bias."""
    mask = np.zeros_like(net.flat_parameters())
    flat = net.flat_parameters()
    for w in net.weights:
        start = (w.__array_interface__["data"][0] - flat.__array_interface__["data"][0]) // 8
        mask[start:start + w.size] = 1.0
    return mask


def test_l1_adds_its_penalty_to_the_loss_and_sign_to_the_weight_gradients():
    X, Y = problem()
    net = network()
    net.weights[0][0, 0] = 0.0  # sign(0) = 0: no push on a weight at zero
    error, gradient = plain(net, X, Y)
    with_l1, l1_gradient = stepped(net, X, Y, l1=0.03)
    flat = net.flat_parameters()
    mask = weight_mask(net)
    assert with_l1 == pytest.approx(error + 0.03 * np.sum(np.abs(flat) * mask), rel=1e-14)
    np.testing.assert_allclose(l1_gradient, gradient + 0.03 * np.sign(flat) * mask, rtol=0,
                               atol=1e-15)
    assert l1_gradient[0] == gradient[0]  # the weight at zero


def test_the_elastic_net_is_both_penalties_added():
    X, Y = problem()
    net = network()
    error, gradient = plain(net, X, Y)
    both, both_gradient = stepped(net, X, Y, l2=0.2, l1=0.03)
    flat, mask = net.flat_parameters(), weight_mask(net)
    assert both == pytest.approx(error + 0.1 * np.sum(flat ** 2 * mask)
                                 + 0.03 * np.sum(np.abs(flat) * mask), rel=1e-14)
    np.testing.assert_allclose(both_gradient,
                               gradient + (0.2 * flat + 0.03 * np.sign(flat)) * mask,
                               rtol=0, atol=1e-15)


def test_clip_norm_scales_every_gradient_by_the_global_norm():
    X, Y = problem()
    net = network()
    _, gradient = plain(net, X, Y)
    norm = np.sqrt(np.sum(gradient ** 2))
    _, clipped = stepped(net, X, Y, clip_norm=norm / 4)
    np.testing.assert_allclose(clipped, gradient * (norm / 4) / (norm + 1e-6), rtol=1e-15)
    _, untouched = stepped(net, X, Y, clip_norm=norm * 2)
    assert np.array_equal(untouched, gradient)


def test_clip_norm_follows_the_penalties_and_clip_value_follows_clip_norm():
    X, Y = problem()
    net = network()
    _, gradient = plain(net, X, Y)
    flat, mask = net.flat_parameters(), weight_mask(net)
    penalised = gradient + 0.5 * flat * mask
    norm = np.sqrt(np.sum(penalised ** 2))
    expected = np.clip(penalised * (norm / 3) / (norm + 1e-6), -0.01, 0.01)
    _, clipped = stepped(net, X, Y, l2=0.5, clip_norm=norm / 3, clip_value=0.01)
    np.testing.assert_allclose(clipped, expected, rtol=1e-15, atol=1e-18)


def test_clip_value_clamps_each_entry():
    X, Y = problem()
    net = network()
    _, gradient = plain(net, X, Y)
    limit = float(np.median(np.abs(gradient)))
    _, clipped = stepped(net, X, Y, clip_value=limit)
    assert np.array_equal(clipped, np.clip(gradient, -limit, limit))
    assert np.max(np.abs(clipped)) == limit


def test_the_helpers_match_hand_computation():
    gradient = np.array([3.0, 4.0])  # norm 5
    assert clip_by_norm(gradient, 1.0) == 5.0
    np.testing.assert_allclose(gradient, [3.0 / (5 + 1e-6), 4.0 / (5 + 1e-6)], rtol=1e-15)
    gradient = np.array([-2.0, 0.5, 3.0])
    clip_by_value(gradient, 1.0)
    assert gradient.tolist() == [-1.0, 0.5, 1.0]
    net = Network([2, 1], bias=False, seed=0)
    net.weights[0][:, 0] = [-2.0, 0.0]
    net.weight_grads[0][:, 0] = [1.0, 1.0]
    assert add_l1(net, 0.5, [np.empty((2, 1))]) == 1.0
    assert net.weight_grads[0][:, 0].tolist() == [0.5, 1.0]


def test_a_step_with_the_penalties_and_clipping_allocates_no_gradient_buffer():
    from chainrule.optimizers import get_optimizer

    rng = np.random.default_rng(0)
    net = Network([200, 200, 10], activation="tanh", seed=1)
    X, Y = rng.normal(size=(16, 200)), rng.normal(size=(16, 10))
    optimizer = get_optimizer("momentum")
    optimizer.bind([net.flat_parameters()], [net.parameter_scratch()])
    weights_bytes = sum(w.nbytes for w in net.weights)
    tracemalloc.start()
    try:  # the penalties' buffers are the network's free scratch, not new arrays
        descent = Descent(net, optimizer, 0.1, 0.01, l1=0.1, clip_norm=0.1, clip_value=0.01)
        made = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert made < weights_bytes / 10
    error = net.compute_gradients(*net.check_data(X, Y))
    descent(error)  # warm: the optimizer's state
    tracemalloc.start()
    try:
        for _ in range(100):
            descent(error)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < weights_bytes / 10
    assert descent.last_norm > 0.1


def test_dropout_draws_the_same_words_from_every_bit_generator_layout():
    """MT19937's 32-bit outputs, read in place from its 64-bit raw values: the words (and so
    the masks) are each output's two halves in order, as a copy to 32-bit words gives them."""
    from chainrule.engine.dropout import draw_kept, draw_mask, keep_threshold

    for shape in [(7, 5), (8, 4), (1, 1), (3, 33)]:
        size = int(np.prod(shape))
        raw = np.random.Generator(np.random.MT19937(4)).bit_generator.random_raw(
            (size + 1) // 2)
        words = raw.astype(np.uint32).view(np.uint16)[:size].reshape(shape)
        expected = words >= keep_threshold(0.3)
        kept = draw_kept(np.random.Generator(np.random.MT19937(4)), 0.3,
                         np.empty(shape, dtype=bool))
        np.testing.assert_array_equal(kept, expected)
        mask = draw_mask(np.random.Generator(np.random.MT19937(4)), 0.3, np.empty(shape))
        np.testing.assert_array_equal(mask, expected.astype(float))
        strided = np.empty((shape[0], 2 * shape[1]), dtype=bool)[:, ::2]
        draw_kept(np.random.Generator(np.random.MT19937(4)), 0.3, strided)
        np.testing.assert_array_equal(strided, expected)
    kept = np.empty((400, 250), dtype=bool)
    rng = np.random.Generator(np.random.MT19937(1))
    draw_kept(rng, 0.5, kept)
    tracemalloc.start()
    try:  # the raw outputs (8 bytes per two words) and NumPy's buffer, no 32-bit copy
        draw_kept(rng, 0.5, kept)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < kept.size * 4 * 1.25  # with the copy: 1.5


def test_fit_takes_the_options_and_records_them():
    X, Y = problem()
    history = network().fit(X, Y, epochs=3, l1=0.01, l2=0.01, clip_norm=1.0, clip_value=0.5,
                            progress=False)
    assert history.params["l1"] == 0.01
    assert history.params["clip_norm"] == 1.0 and history.params["clip_value"] == 0.5
    # the epoch's loss is the loss of its one (full-batch) step, with both penalties
    net = network()
    net.fit(X, Y, epochs=2, l1=0.01, l2=0.01, clip_norm=1.0, clip_value=0.5, progress=False)
    flat, mask = net.flat_parameters(), weight_mask(net)
    expected = net.loss(X, Y) + 0.005 * np.sum(flat ** 2 * mask) + \
        0.01 * np.sum(np.abs(flat) * mask)
    assert history["loss"][2] == pytest.approx(expected, rel=1e-12)


def test_clipping_tames_a_learning_rate_that_diverges_without_it():
    X, Y = problem()
    X = X * 10

    def linear():
        return Network([3, 4, 2], activation="identity", seed=5)

    with pytest.warns(Warning, match="diverged"):
        wild = linear().fit(X, Y, epochs=40, learning_rate=1.0, progress=False)
    assert wild.diverged
    tame = linear().fit(X, Y, epochs=40, learning_rate=1.0, clip_value=1e-3, progress=False)
    assert not tame.diverged


@pytest.mark.parametrize("settings", [
    {"l1": 0.01}, {"l1": 0.01, "l2": 0.02}, {"clip_norm": 0.3}, {"clip_value": 0.02},
    {"l1": 0.01, "clip_norm": 0.3, "clip_value": 0.02, "optimizer": "adam"},
    {"sample_weight": np.linspace(0.5, 2.0, 10), "optimizer": "adam"},
])
def test_a_checkpointed_run_resumes_bit_for_bit(settings):
    X, Y = problem(n=10)
    options = dict(epochs=3, learning_rate=0.05, batch_size=3, progress=False, **settings)
    straight = network()
    history = straight.fit(X, Y, **options)
    trainer = network().trainer(X, Y, **options)
    for _ in range(5):
        trainer.step()
    state = copy.deepcopy(trainer.state_dict())
    resumed = network()
    other = resumed.trainer(X, Y, **options)
    other.load_state_dict(state)
    assert other.run()["loss"] == history["loss"]
    assert np.array_equal(resumed.flat_parameters(), straight.flat_parameters())


def test_a_checkpoint_refuses_other_penalties():
    X, Y = problem()
    state = network().trainer(X, Y, epochs=2, l1=0.01).state_dict()
    with pytest.raises(ValueError, match="l1=0.01"):
        network().trainer(X, Y, epochs=2, l1=0.02).load_state_dict(state)


@pytest.mark.parametrize("name, value", [
    ("l1", -0.1), ("l1", float("nan")), ("clip_norm", 0.0), ("clip_norm", -1.0),
    ("clip_value", 0.0), ("clip_value", float("inf")), ("clip_value", "a lot"),
])
def test_bad_values_are_refused_by_name(name, value):
    with pytest.raises(ValueError, match=name):
        check_options(epochs=1, **{name: value})


def test_the_defaults_change_nothing():
    options = check_options(epochs=1)
    assert options["l1"] == 0.0 and options["clip_norm"] is None
    assert options["clip_value"] is None


def test_a_checkpoint_file_carries_the_new_options(tmp_path):
    X, Y = problem(n=10)
    weights = np.linspace(0.0, 2.0, 10)
    options = dict(learning_rate=0.05, batch_size=4, progress=False, l1=0.01, l2=0.01,
                   clip_norm=0.5, clip_value=0.05, optimizer="adam", sample_weight=weights)
    straight = network()
    history = straight.fit(X, Y, epochs=4, **options)
    path = tmp_path / "run.npz"
    network().fit(X, Y, epochs=2, checkpoint=path, **options)
    resumed = network()
    again = resumed.fit(X, Y, epochs=4, resume_from=path, **options)
    assert again["loss"] == history["loss"]
    assert np.array_equal(resumed.flat_parameters(), straight.flat_parameters())
    with pytest.raises(ValueError, match="clip_norm"):
        network().fit(X, Y, epochs=4, resume_from=path, **{**options, "clip_norm": 0.4})
