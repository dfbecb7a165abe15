"""barenet: neural networks with a compiled C core and a NumPy reference backend."""

from . import datasets, layers, optimizers, recurrent, schedules, text
from ._info import info
from ._threads import get_num_threads, set_num_threads
from .graph import Input
from .io import ModelFileError
from .network import Model, NeuralNetwork, Sequential, TrainingDiverged
from .recurrent import GRU, LSTM, Bidirectional, SimpleRNN
from .training import EarlyStopping, History

__version__ = "0.1.0"

__all__ = ["NeuralNetwork", "Sequential", "Model", "Input", "TrainingDiverged", "ModelFileError", "EarlyStopping",
           "History", "SimpleRNN", "LSTM", "GRU", "Bidirectional", "datasets", "layers", "recurrent",
           "optimizers", "schedules", "text", "set_num_threads",
           "get_num_threads", "info", "__version__"]
