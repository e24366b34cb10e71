"""chainrule: gradient descent for any fully-connected neural network, backpropagation in NumPy."""

from .gradcheck import gradcheck
from .history import History
from .network import Network
from .persistence import load

__version__ = "0.1.0"

__all__ = ["History", "Network", "__version__", "gradcheck", "load"]
