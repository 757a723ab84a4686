"""Solutions to the exercises of tutorials/06_train.py.

The check cell of the tutorial runs against these in CI (tests/course/test_tutorials.py).
"""

import numpy as np


def inv_lr(base_lr, iteration, gamma=1e-4, power=0.75):
    """Caffe's "inv" learning rate at an iteration."""
    return base_lr * (1 + gamma * iteration) ** (-power)


def validation_split(labels, n_val, seed=0):
    """(train_idx, val_idx), stratified by label."""
    labels = np.asarray(labels)
    g = np.random.default_rng(seed)
    classes, counts = np.unique(labels, return_counts=True)
    share = n_val * counts / len(labels)
    take = np.floor(share).astype(int)
    # hand the remaining places to the classes with the largest fractional parts
    rest = n_val - take.sum()
    take[np.argsort(share - take)[::-1][:rest]] += 1
    val = np.concatenate([g.permutation(np.flatnonzero(labels == c))[:k]
                          for c, k in zip(classes, take, strict=True)])
    train = np.setdiff1d(np.arange(len(labels)), val)
    return train, np.sort(val)
