"""chainrule: gradient descent for any fully-connected neural network, backpropagation in NumPy."""

from .gradcheck import gradcheck
from .network import Network

__version__ = "0.1.0"

__all__ = ["Network", "gradcheck", "__version__"]
