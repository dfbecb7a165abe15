"""barenet: dense neural networks with a compiled C core and a NumPy reference backend."""

from .network import NeuralNetwork

__version__ = "0.1.0"

__all__ = ["NeuralNetwork", "__version__"]
