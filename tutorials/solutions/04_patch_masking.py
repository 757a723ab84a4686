"""Solutions to the exercises of tutorials/04_patch_masking.py.

The check cell of the tutorial runs against these in CI (tests/course/test_tutorials.py).
"""



def patch_masked_conv(x, W, b, Z, stride=1, pad=0):
    """((x* W_mat^T + b) ⊙ Z) in NCHW, shape (N, C_out, OH, OW)."""
    from tinybcnn.functional import conv_output_shape, im2col

    n, _, h, w = x.shape
    c_out, _, kh, kw = W.shape
    oh, ow = conv_output_shape(h, w, kh, kw, stride, pad)
    Y = (im2col(x, kh, kw, stride, pad) @ W.reshape(c_out, -1).T + b) * Z   # patch layout
    return Y.reshape(n, oh, ow, c_out).transpose(0, 3, 1, 2)


def nchw_to_patch(m):
    """(N, C, OH, OW) mask -> (N·OH·OW, C) patch-layout mask."""
    n, c, oh, ow = m.shape
    return m.transpose(0, 2, 3, 1).reshape(n * oh * ow, c)
