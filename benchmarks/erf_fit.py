"""The fits behind csrc/verf.h's erf: weighted least squares on Chebyshev nodes in 50-digit
arithmetic (close to minimax), printed as C statements with each fit's largest error.
Needs mpmath (not a dependency of barenet). Check the result with benchmarks/erf_check.c.

    python benchmarks/erf_fit.py
"""
import mpmath as mp

mp.mp.dps = 50


def fit(f, weight, lo, hi, degree, var, points=300):
    """coefficients (low to high) of the polynomial in var(x) nearest to f on [lo, hi] in
    the weighted least-squares sense on Chebyshev nodes, and its largest weighted error"""
    xs = [(lo + hi) / 2 + (hi - lo) / 2 * mp.cos(mp.pi * (k + 0.5) / points)
          for k in range(points)]
    A = mp.matrix(points, degree + 1)
    b = mp.matrix(points, 1)
    for i, x in enumerate(xs):
        for j in range(degree + 1):
            A[i, j] = weight(x) * var(x) ** j
        b[i] = weight(x) * f(x)
    c = mp.qr_solve(A, b)[0]
    c = [c[j] for j in range(degree + 1)]
    err = max(abs(weight(x) * (mp.polyval(c[::-1], var(x)) - f(x)))
              for x in mp.linspace(lo, hi, 2001))
    return c, err


def erf_over_a(t):
    """erf(a) / a as a function of t = a^2"""
    return mp.erf(mp.sqrt(t)) / mp.sqrt(t) if t > 0 else 2 / mp.sqrt(mp.pi)


def erfcx(a):
    return mp.erfc(a) * mp.exp(a * a)


def show(name, c, err, var):
    print(f"{name}: largest error {mp.nstr(err, 3)}; Horner in {var}, highest first:")
    for x in reversed(c):
        print(f"    {mp.nstr(x, 20)}")


mid = (mp.mpf(2) / 3 + mp.mpf(1) / 4) / 2  # 11/24: the middle of 2 / (2 + a) on [1, 6]
for precision, small, large, hi, var, var_name in [
        ("float", 6, 8, 4, lambda a: a - mp.mpf(2.5), "a - 2.5"),
        ("double", 11, 12, 6, lambda a: 2 / (2 + a) - mid, "2 / (2 + a) - 11/24")]:
    c, err = fit(erf_over_a, lambda t: 1 / erf_over_a(t), mp.mpf(0), mp.mpf(1), small,
                 lambda t: t)
    c[0] -= 1  # the code adds a (S - 1) to a
    show(f"{precision} S - 1, a < 1 (relative)", c, err, "t = a^2")
    c, err = fit(erfcx, lambda a: mp.exp(-a * a), mp.mpf(1), mp.mpf(hi), large, var)
    show(f"{precision} E, 1 <= a <= {hi} (absolute, times exp(-a^2))", c, err, var_name)
