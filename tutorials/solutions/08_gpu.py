"""Solutions to the exercises of tutorials/08_gpu.py.

The check cell of the tutorial runs against these in CI (tests/course/test_tutorials.py).
"""


def inverted_dropout(x, z, p):
    """x ⊙ z / keep, in the namespace of x."""
    return x * z / (1 - p)                 # operators stay in x's namespace


def mask_from_words(words, p):
    """Inverted float32 dropout mask from uint32 ``words``, in their namespace."""
    from tinybcnn.backend import xp_of

    xp = xp_of(words)
    keep = 1 - p
    if keep == 1:                          # 2**32 does not fit in a uint32: keep every unit
        return xp.ones(words.shape, dtype=xp.float32)
    threshold = min(round(keep * 2**32), 2**32 - 1)
    # an integer comparison, then a float32 cast; a Python scalar keeps the dtype float32
    return xp.astype(words < threshold, xp.float32) / keep
