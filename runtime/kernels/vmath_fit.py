#!/usr/bin/env python3
"""Fits the polynomial coefficients of runtime/kernels/vmath.hpp (erf, erfc, gelu, tanh).

Each polynomial is a near-minimax fit on Chebyshev nodes by Lawson's algorithm (iteratively
reweighted least squares), with the target function evaluated by mpmath at 40 digits, then
rounded to f32. The errors printed are those of the double-precision fit; the f32 evaluation's
errors are measured by tests/test_vmath.cpp. Needs numpy and mpmath; run from anywhere:

    python3 runtime/kernels/vmath_fit.py
"""
import mpmath as mp
import numpy as np

mp.mp.dps = 40


def cheb_nodes(lo, hi, n):
    k = np.arange(n)
    return 0.5 * (lo + hi) + 0.5 * (hi - lo) * np.cos(np.pi * (k + 0.5) / n)


def lawson(xs, target, basis, weight, iters=200):
    """Coefficients c minimising max |weight * (sum c_k basis_k(x) - target(x))| (nearly)."""
    a = np.array([[b(x) for b in basis] for x in xs]) * weight[:, None]
    y = np.array(target) * weight
    w = np.ones(len(xs))
    for _ in range(iters):
        sw = np.sqrt(w)
        c, *_ = np.linalg.lstsq(a * sw[:, None], y * sw, rcond=None)
        err = np.abs(a @ c - y)
        w = w * err
        w /= w.sum()
    return c, float(np.max(np.abs(a @ c - y)))


def powers(var, deg):
    return [lambda x, j=j: var(x) ** j for j in range(deg + 1)]


def show(name, c, err, what):
    print(f"{name}: {what} {err:.3g}")
    print("  " + ", ".join(repr(float(np.float32(v))) for v in c) + "  (lowest power first)")


def main():
    # erf(x) = x·(2/√π + s·Q(s)), s = x², |x| < 1: Q of degree 5, relative error of erf.
    xs = cheb_nodes(1e-3, 1.0, 3000)
    c0 = 2 / mp.sqrt(mp.pi)
    q = [float((mp.erf(mp.mpf(x)) / mp.mpf(x) - c0) / mp.mpf(x) ** 2) for x in xs]
    wt = np.array([float(mp.mpf(x) ** 2 / (mp.erf(mp.mpf(x)) / mp.mpf(x))) for x in xs])
    c, e = lawson(xs, q, powers(lambda x: x * x, 5), wt)
    show("erf_small_q", c, e, "relative error of erf")

    # erfc(a) = t·exp(-a² + R(t)), t = 1/(1 + a/2), 0.5 <= a <= 10: R of degree 9, absolute error
    # of R (= relative error of erfc).
    xs = cheb_nodes(0.5, 10.0, 4000)
    r = [float(mp.log(mp.erfc(mp.mpf(x)) * (1 + mp.mpf(x) / 2)) + mp.mpf(x) ** 2) for x in xs]
    c, e = lawson(xs, r, powers(lambda x: 1 / (1 + x / 2), 9), np.ones(len(xs)))
    show("erfc_from_square R", c, e, "relative error of erfc")

    # Φ(-a) = e^(-a²/2)·P(t), t = 1/(1 + 0.3a), 0 <= a <= 13.25 (GELU): P of degree 8, relative
    # error of Φ(-a). Sampled on Chebyshev nodes in t.
    k = 0.3
    ts = cheb_nodes(1 / (1 + k * 13.25), 1.0, 4000)
    g = [float(mp.ncdf(-mp.mpf(a)) * mp.exp(mp.mpf(a) ** 2 / 2)) for a in (1 / ts - 1) / k]
    c, e = lawson(ts, g, powers(lambda t: t, 8), 1 / np.array(g), iters=400)
    show("gelu P", c, e, "relative error of Phi(-a)")

    # tanh(x) = x + x³·P(x²), |x| < 0.9: P of degree 5, relative error of tanh.
    xs = cheb_nodes(1e-4, 0.9, 3000)
    p = [float((mp.tanh(mp.mpf(x)) - mp.mpf(x)) / mp.mpf(x) ** 3) for x in xs]
    wt = np.array([float(mp.mpf(x) ** 3 / mp.tanh(mp.mpf(x))) for x in xs])
    c, e = lawson(xs, p, powers(lambda x: x * x, 5), wt)
    show("tanh P", c, e, "relative error of tanh")


if __name__ == "__main__":
    main()
