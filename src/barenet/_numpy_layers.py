# TEMPORARY placeholder until the reference layers land
def flatten_forward(x):
    return x.reshape(len(x), -1)


def flatten_backward(d, shape):
    return d.reshape(shape)
