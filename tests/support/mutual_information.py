"""Common wrong answers to "write the mutual information of T probability vectors", the
exercise tutorials 07 (MC-dropout passes) and 11 (an ensemble's members) share.

Each is the source of a function ``{name}(P)``, ``P`` of shape ``(T, N, K)``, with the name
left open (``mutual_information`` in 07, ``members_mutual_info`` in 11), and a phrase of the
explanation ``tinybcnn.exercises.check_mutual_information`` must give for it. The planted
sources use ``np``, as the tutorials' import cells do.
"""

from __future__ import annotations

# wrong answer -> (source with {name}, a phrase of its explanation)
WRONG_MI = {
    "naive entropy": ("""
def {name}(P):
    def H(p):
        return -np.sum(p * np.log(p), axis=-1)
    return H(P.mean(0)) - H(P).mean(0)
""", "0 · log 0"),
    "sign": ("""
def {name}(P):
    def H(p):
        return -np.sum(np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0)), 0.0), axis=-1)
    return H(P).mean(0) - H(P.mean(0))
""", "the sign"),
    "bits": ("""
def {name}(P):
    def H(p):
        return -np.sum(np.where(p > 0, p * np.log2(np.where(p > 0, p, 1.0)), 0.0), axis=-1)
    return H(P.mean(0)) - H(P).mean(0)
""", "in bits"),
    "predictive entropy": ("""
def {name}(P):
    p = P.mean(0)
    return -np.sum(np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0)), 0.0), axis=-1)
""", "that is the predictive entropy"),
    "expected entropy": ("""
def {name}(P):
    return -np.sum(np.where(P > 0, P * np.log(np.where(P > 0, P, 1.0)), 0.0), axis=-1).mean(0)
""", "that is the expected entropy"),
    "averaged over the inputs": ("""
def {name}(P):
    def H(p):
        return -np.sum(np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0)), 0.0), axis=-1)
    return np.mean(H(P.mean(0)) - H(P).mean(0))
""", "one number for all inputs"),
    "not averaged over the draws": ("""
def {name}(P):
    def H(p):
        return -np.sum(np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0)), 0.0), axis=-1)
    return H(P.mean(0)) - H(P)
""", "axis 0"),
    "divides by T - 1": ("""
def {name}(P):
    def H(p):
        return -np.sum(np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0)), 0.0), axis=-1)
    return H(P.mean(0)) - H(P).sum(0) / (len(P) - 1)
""", "that agree exactly have no mutual information"),
}
