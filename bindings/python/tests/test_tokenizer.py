"""all-MiniLM-L6-v2's tokenizer through the binding: ids equal tests/data/minilm/golden.json's
(made with Hugging Face tokenizers), batched and single, and the errors of section 22."""
import json
import os
import threading

import numpy as np
import pytest

import aphelion


@pytest.fixture(scope="module")
def golden(source_dir):
    path = os.path.join(source_dir, "tests", "data", "minilm", "golden.json")
    if not os.path.exists(path):
        pytest.skip("no tests/data/minilm/golden.json")
    return json.load(open(path, encoding="utf-8"))


@pytest.fixture(scope="module")
def tok(minilm_dir):
    return aphelion.Tokenizer(os.path.join(minilm_dir, "tokenizer.json"))


def test_ids_match_golden(tok, golden):
    n = golden["max_seq_length"]
    for text, ids in zip(golden["sentences"], golden["input_ids"]):
        assert tok.encode_ids(text, max_length=n, padding="longest") == ids, text


def test_batch_matches_golden(tok, golden):
    n = golden["max_seq_length"]
    enc = tok.encode(golden["sentences"], max_length=n, padding="longest")
    ids, mask = enc["input_ids"].numpy(), enc["attention_mask"].numpy()
    assert ids.dtype == np.int64 and ids.shape[0] == len(golden["sentences"])
    for row, m, want, length in zip(ids, mask, golden["input_ids"], enc["lengths"]):
        assert length == len(want) and row[:length].tolist() == want and m.sum() == length
        assert (row[length:] == 0).all()


def test_vocab_and_errors(tok):
    assert tok.vocab_size == 30522 and tok.special_token_count == 2 and tok.max_length == 128
    assert tok.token_to_id("[CLS]") == 101 and tok.id_to_token(101) == "[CLS]"
    assert tok.token_to_id("no-such-token-here") is None and tok.id_to_token(10**9) is None
    assert tok.encode_ids("hello", padding="longest", add_special_tokens=False) == [7592]
    with pytest.raises(aphelion.IoError):
        aphelion.Tokenizer("/nonexistent/tokenizer.json")
    with pytest.raises(aphelion.SerializationError):
        aphelion.Tokenizer.from_json("{")


def test_tokenizer_from_threads(tok, golden):
    bad = []

    def work():
        for text, ids in zip(golden["sentences"], golden["input_ids"]):
            if tok.encode_ids(text, max_length=256, padding="longest") != ids:
                bad.append(text)

    ts = [threading.Thread(target=work) for _ in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert bad == []
