"""Solutions to the exercises of tutorials/05_objective.py.

The check cell of the tutorial runs against these in CI (tests/course/test_tutorials.py).
"""



def kernel_decay(p, length_scale, n_train, tau=1.0):
    """λ of a kernel under inverted dropout with drop probability p."""
    return length_scale**2 / (2 * n_train * tau * (1 - p))


def input_side_keep(model):
    """{weight-layer name: keep of the dropout on its inputs}."""
    from tinybcnn.nn import Conv2D, Dense, Dropout, Flatten, ReLU

    keep, pending = {}, None
    for name, layer in model:
        if isinstance(layer, (Conv2D, Dense)):
            keep[name] = 1.0 if pending is None else pending
            pending = None
        elif isinstance(layer, Dropout):
            if layer.p > 0:                # two masks on the same units multiply
                pending = (1 - layer.p) * (1.0 if pending is None else pending)
        elif not isinstance(layer, (ReLU, Flatten)):
            pending = None                 # pooling: the mask is no longer on the inputs
    return keep
