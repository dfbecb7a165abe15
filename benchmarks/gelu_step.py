"""A GELU-heavy training run for instruction counts (no timing): Dense(512, gelu) twice and a
softmax output, 1024 samples of 256 features, 2 epochs of batch 128 with Adam, on the
compiled backend. Count it on one thread with callgrind and compare builds by the totals
and by the functions of the GELU path (bias_act_*, times_dact_range_*, and libm's erff /
erf / expf before csrc/verf.h):

    BARENET_NUM_THREADS=1 valgrind --tool=callgrind python benchmarks/gelu_step.py float32
    callgrind_annotate callgrind.out.<pid> | head -40
"""
import sys

import numpy as np

import barenet
from barenet.layers import Dense

dtype = sys.argv[1] if len(sys.argv) > 1 else "float32"
rng = np.random.default_rng(0)
X = rng.standard_normal((1024, 256)).astype(dtype)
Y = np.eye(10, dtype=dtype)[rng.integers(0, 10, 1024)]
model = barenet.Sequential([Dense(512, activation="gelu"), Dense(512, activation="gelu"),
                            Dense(10, activation="softmax")], input_shape=(256,),
                           dtype=dtype, seed=0, backend="compiled")
history = model.train(X, Y, epochs=2, batch_size=128, optimizer="adam", learning_rate=1e-3,
                      verbose=False)
print(list(history))
