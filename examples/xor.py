"""The tutorial's XOR
==================

The tutorial's XOR example, unchanged except for the import: a [2, 4, 1] network with
ReLU hidden units and a sigmoid output, trained by full-batch gradient descent."""
import numpy as np

from barenet import NeuralNetwork

np.random.seed(42)

X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]])
y = np.array([[0], [1], [1], [0]])

nn = NeuralNetwork([2, 4, 1])
losses = nn.train(X, y, epochs=5000, learning_rate=0.5)

print("Predictions:")
print(nn.predict(X))
