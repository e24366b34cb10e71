"""A callback the layer tests share: what the network held at every epoch's end."""

from chainrule.callbacks import Callback


class EpochStates(Callback):
    """The weights and running statistics at every epoch's end (``states[epoch]``)."""

    def __init__(self):
        self.states = {}

    def on_epoch_end(self, trainer, epoch, logs):
        self.states[epoch] = (trainer.net.flat_parameters().copy(),
                              trainer.net.running_statistics())
