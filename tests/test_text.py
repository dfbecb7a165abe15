"""barenet.text.Vocabulary (character and word level, reserved ids, encode/decode, config,
errors), a vocabulary saved with a model and restored by load (crafted headers refused),
and barenet.datasets.load_text / sequences on files written to tmp_path."""

import json
import os

import numpy as np
import pytest

import barenet
from barenet import Input, Model, ModelFileError, NeuralNetwork, Sequential
from barenet.datasets import load_text, sequences
from barenet.layers import Dense, Flatten
from barenet.text import PAD, UNK, Vocabulary, tokenize

FORTUNES = "/usr/share/games/fortunes"


# -- Vocabulary ----------------------------------------------------------------------------
def test_char_vocabulary_ids_and_order():
    v = Vocabulary.from_text("abracadabra")
    # counts a5 b2 r2 c1 d1: most frequent first, ties in code-point order; ids from 2
    assert v.tokens == ("a", "b", "r", "c", "d")
    assert len(v) == 7 and PAD == 0 and UNK == 1
    ids = v.encode("abracadabra")
    assert ids.dtype == np.int64 and ids.ndim == 1
    np.testing.assert_array_equal(ids, [2, 3, 4, 2, 5, 2, 6, 2, 3, 4, 2])
    assert v.decode(ids) == "abracadabra"
    np.testing.assert_array_equal(v.encode("abz!"), [2, 3, UNK, UNK])
    assert v.decode([0, 2, 1, 0, 3, 0]) == "a\ufffdb"  # padding left out, UNK as U+FFFD
    assert v.encode("").shape == (0,) and v.encode("").dtype == np.int64
    assert v.decode(np.array([], dtype=np.int64)) == ""
    assert v.id_of("r") == 4 and v.id_of("z") == UNK


def test_char_vocabulary_keeps_every_character():
    text = "naïve café, 日本語\n\ttabs  and 🙂 emoji"
    v = Vocabulary.from_text(text)
    assert v.decode(v.encode(text)) == text
    assert len(v) == len(set(text)) + 2


def test_the_word_tokenizer():
    assert tokenize("Hello, world! It's 3pm.", "word") == [
        "Hello", ",", "world", "!", "It", "'", "s", "3pm", "."]
    assert tokenize("  Two\n\tlines ", "word", lowercase=True) == ["two", "lines"]
    assert tokenize("ab", "char") == ["a", "b"]


def test_word_vocabulary_max_size_min_count_lowercase():
    text = "the cat sat on the mat. The dog sat on the log!"
    v = Vocabulary.from_text(text, level="word", lowercase=True)
    # the x4, on x2, sat x2, then the singletons in code-point order
    assert v.tokens[:3] == ("the", "on", "sat")
    assert set(v.tokens[3:]) == {"cat", "mat", "dog", "log", ".", "!"}
    assert v.decode(v.encode("The cat sat.")) == "the cat sat ."
    small = Vocabulary.from_text(text, level="word", lowercase=True, max_size=4)
    assert len(small) == 4 and small.tokens == ("the", "on")
    np.testing.assert_array_equal(small.encode("the cat"), [2, UNK])
    assert small.decode([2, 1, 3]) == "the <unk> on"
    common = Vocabulary.from_text(text, level="word", lowercase=True, min_count=2)
    assert common.tokens == ("the", "on", "sat")
    cased = Vocabulary.from_text(text, level="word")
    assert "The" in cased.tokens and cased.encode("THE")[0] == UNK
    assert len(Vocabulary.from_text(text, max_size=2)) == 2  # only the reserved ids


def test_config_round_trip_and_equality():
    for v in (Vocabulary.from_text("héllo wörld"),
              Vocabulary.from_text("Some words, some more.", level="word", lowercase=True)):
        config = json.loads(json.dumps(v.to_config()))
        w = Vocabulary.from_config(config)
        assert w == v and hash(w) == hash(v) and w is not v
        assert w.encode("héllo").tolist() == v.encode("héllo").tolist()
    a = Vocabulary(["a", "b"])
    assert a == Vocabulary(["a", "b"]) and a != Vocabulary(["b", "a"])
    assert a != Vocabulary(["a", "b"], lowercase=True)
    assert Vocabulary(["a"], level="word") != Vocabulary(["a"], level="char")
    assert a != ["a", "b"] and "2 ids" not in repr(a) and "4 ids" in repr(a)


@pytest.mark.parametrize("call,error,match", [
    (lambda v: v.encode(b"ab"), TypeError, "text must be a str"),
    (lambda v: v.encode(["a"]), TypeError, "text must be a str"),
    (lambda v: v.encode(None), TypeError, "text must be a str"),
    (lambda v: v.decode([2, 5]), ValueError, r"ids\[1\] is 5"),
    (lambda v: v.decode([-1]), ValueError, r"in \[0, 5\)"),
    (lambda v: v.decode([2.0]), TypeError, "integers"),
    (lambda v: v.decode(["a"]), TypeError, "integers"),
    (lambda v: v.decode("ab"), TypeError, "integers"),
    (lambda v: v.decode([[2, 3]]), ValueError, "one sequence"),
    (lambda v: v.decode(np.array([True])), TypeError, "integers"),
    (lambda v: v.id_of(2), TypeError, "token must be a str"),
])
def test_encode_decode_errors(call, error, match):
    v = Vocabulary(["a", "b", "c"])
    with pytest.raises(error, match=match):
        call(v)


@pytest.mark.parametrize("make,error,match", [
    (lambda: Vocabulary.from_text(b"abc"), TypeError, "text must be a str"),
    (lambda: Vocabulary.from_text("abc", level="byte"), ValueError, "level"),
    (lambda: Vocabulary.from_text("abc", max_size=1), ValueError, "max_size"),
    (lambda: Vocabulary.from_text("abc", max_size=3.0), TypeError, "max_size"),
    (lambda: Vocabulary.from_text("abc", min_count=0), ValueError, "min_count"),
    (lambda: Vocabulary.from_text("abc", lowercase="yes"), TypeError, "lowercase"),
    (lambda: Vocabulary("abc"), TypeError, "tokens must be a list"),
    (lambda: Vocabulary(["a", "a"]), ValueError, "distinct"),
    (lambda: Vocabulary(["ab"]), ValueError, "one character"),
    (lambda: Vocabulary([""]), ValueError, "one character"),
    (lambda: Vocabulary(["two words"], level="word"), ValueError, "word or one punct"),
    (lambda: Vocabulary(["ab,"], level="word"), ValueError, "word or one punct"),
    (lambda: Vocabulary([3]), TypeError, r"tokens\[0\] must be a str"),
    (lambda: Vocabulary.from_config([]), TypeError, "dict"),
    (lambda: Vocabulary.from_config({"level": "char", "tokens": []}), ValueError, "keys"),
    (lambda: Vocabulary.from_config({"level": "char", "tokens": [], "lowercase": False,
                                     "x": 1}), ValueError, "keys"),
    (lambda: Vocabulary.from_config({"level": ["char"], "tokens": [], "lowercase": False}),
     ValueError, "level"),
])
def test_building_errors(make, error, match):
    with pytest.raises(error, match=match):
        make()


# -- saved with a model --------------------------------------------------------------------
def models(backend):
    x = Input((3,))
    out = Dense(2, activation="softmax")(Dense(4, activation="relu")(x))
    return [NeuralNetwork([3, 4, 1], seed=0, backend=backend),
            Sequential([Flatten(), Dense(2, activation="softmax")], input_shape=(3,), seed=0,
                       backend=backend),
            Model(x, out, seed=0, backend=backend)]


def test_vocabulary_saved_and_loaded_with_each_kind_of_model(backend, tmp_path):
    vocab = Vocabulary.from_text("It was the best of times.", level="word")
    X = np.random.default_rng(0).standard_normal((4, 3))
    for i, net in enumerate(models(backend)):
        assert net.vocabulary is None
        net.vocabulary = vocab
        net.save(tmp_path / f"m{i}.npz")
        loaded = barenet.io.load(tmp_path / f"m{i}.npz", backend=backend)
        assert type(loaded) is type(net)
        assert loaded.vocabulary == vocab and loaded.vocabulary is not vocab
        np.testing.assert_array_equal(loaded.predict(X), net.predict(X))
        net.vocabulary = None  # no vocabulary: none in the file, None after load
        net.save(tmp_path / f"n{i}.npz")
        assert barenet.io.load(tmp_path / f"n{i}.npz").vocabulary is None
        with np.load(tmp_path / f"n{i}.npz") as data:
            assert "vocabulary" not in json.loads(data["header"].tobytes())


def test_only_a_vocabulary_can_be_assigned():
    net = NeuralNetwork([2, 2, 1], seed=0)
    for bad in ({"level": "char", "tokens": [], "lowercase": False}, "abc", 3):
        with pytest.raises(TypeError, match="barenet.text.Vocabulary"):
            net.vocabulary = bad
    assert net.vocabulary is None


def rewrite(src, dst, change):
    with np.load(src) as data:
        members = dict(data)
    header = json.loads(members["header"].tobytes())
    change(header)
    members["header"] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    np.savez(dst, **members)
    return dst


@pytest.mark.parametrize("vocabulary", [
    "abc", [1, 2], {"level": "char", "tokens": ["a", "a"], "lowercase": False},
    {"level": "char", "tokens": [7], "lowercase": False},
    {"level": "char", "tokens": ["ab"], "lowercase": False},
    {"level": "sentence", "tokens": [], "lowercase": False},
    {"level": "char", "tokens": "abc", "lowercase": False},
    {"level": "char", "tokens": [], "lowercase": 1},
    {"level": "char", "tokens": []},
    {"level": "char", "tokens": [], "lowercase": False, "code": "import os"},
])
def test_a_crafted_vocabulary_is_refused(tmp_path, vocabulary):
    net = NeuralNetwork([2, 2, 1], seed=0)
    net.vocabulary = Vocabulary(["a"])
    net.save(tmp_path / "good.npz")
    bad = rewrite(tmp_path / "good.npz", tmp_path / "bad.npz",
                  lambda h: h.update(vocabulary=vocabulary))
    with pytest.raises(ModelFileError, match="vocabulary is invalid"):
        barenet.io.load(bad)


# -- load_text -----------------------------------------------------------------------------
def test_load_text_file_and_directory(tmp_path):
    (tmp_path / "one.txt").write_text("first file\n", encoding="utf-8")
    assert load_text(tmp_path / "one.txt") == "first file\n"
    d = tmp_path / "fortunes"
    d.mkdir()
    (d / "b").write_text("B text, no newline", encoding="utf-8")
    (d / "a").write_text("A text\n%\nmore A\r\n", encoding="utf-8")
    (d / "a.dat").write_bytes(b"\x00\x00\x00\x02\xff\xfe binary index")
    (d / ".hidden").write_text("hidden\n")
    (d / "sub").mkdir()
    (d / "sub" / "c").write_text("in a subdirectory\n")
    os.symlink("a", d / "a.u8")  # as Debian's fortunes links name.u8 -> name
    text = load_text(d)
    assert text == "A text\n%\nmore A\r\nB text, no newline\n"
    assert load_text(str(d)) == load_text(os.fsencode(d)) == text


def test_load_text_encodings_and_errors(tmp_path):
    (tmp_path / "latin").write_bytes("café\n".encode("latin-1"))
    with pytest.raises(ValueError, match="latin.*is not utf-8 text"):
        load_text(tmp_path / "latin")
    assert load_text(tmp_path / "latin", encoding="latin-1") == "café\n"
    with pytest.raises(ValueError, match="not a known text encoding"):
        load_text(tmp_path / "latin", encoding="no-such-codec")
    with pytest.raises(TypeError, match="encoding"):
        load_text(tmp_path / "latin", encoding=8)
    with pytest.raises(TypeError, match="path"):
        load_text(3)
    with pytest.raises(FileNotFoundError):
        load_text(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "x.dat").write_bytes(b"\x00")
    with pytest.raises(ValueError, match="no text files"):
        load_text(tmp_path / "empty")
    (tmp_path / "blank").write_text("")
    assert load_text(tmp_path / "blank") == ""


@pytest.mark.skipif(not os.path.isdir(FORTUNES), reason="apt-get install fortunes")
def test_load_text_on_debians_fortunes():
    text = load_text(FORTUNES)
    assert len(text) > 1_000_000 and "\x00" not in text
    assert text.count("\n%\n") > 1000  # the fortunes' separators
    v = Vocabulary.from_text(text)
    assert v.decode(v.encode(text[:5000])) == text[:5000]


# -- sequences -----------------------------------------------------------------------------
def test_sequences_windows_and_targets():
    ids = np.arange(10, 21)                      # 11 ids
    X, Y = sequences(ids, 4)                     # windows side by side: starts 0, 4
    np.testing.assert_array_equal(X, [[10, 11, 12, 13], [14, 15, 16, 17]])
    np.testing.assert_array_equal(Y, [[11, 12, 13, 14], [15, 16, 17, 18]])
    assert X.dtype == Y.dtype == np.int64 and X.flags.c_contiguous and Y.flags.c_contiguous
    X, Y = sequences(ids, 3, stride=1)           # every start 0..7
    assert X.shape == Y.shape == (8, 3)
    np.testing.assert_array_equal(X[:, 1:], Y[:, :-1])
    np.testing.assert_array_equal(Y[-1], [18, 19, 20])
    X, Y = sequences([0, 1], 1)
    np.testing.assert_array_equal(X, [[0]])
    np.testing.assert_array_equal(Y, [[1]])
    X, _ = sequences(np.arange(12, dtype=np.uint8), 5, stride=3)
    np.testing.assert_array_equal(X[:, 0], [0, 3, 6])
    assert X.dtype == np.int64
    ids = np.arange(5)
    X, _ = sequences(ids, 2)
    X[0, 0] = 99
    assert ids[0] == 0  # copies, not views of ids


@pytest.mark.parametrize("args,error,match", [
    (([1, 2, 3], 3), ValueError, "at least 4 ids"),
    ((np.zeros((2, 5), np.int64), 2), ValueError, "1-D"),
    ((np.arange(5.0), 2), TypeError, "integer token ids"),
    ((["a", "b", "c"], 1), TypeError, "integer token ids"),
    ((np.arange(5), 0), ValueError, "length"),
    ((np.arange(5), True), TypeError, "length"),
    ((np.arange(5), 2, 0), ValueError, "stride"),
    ((np.arange(5), 2, 1.5), TypeError, "stride"),
])
def test_sequences_errors(args, error, match):
    with pytest.raises(error, match=match):
        sequences(*args)


def test_a_vocabulary_too_large_for_the_header_is_not_saved(tmp_path):
    """load refuses headers over barenet.io.HEADER_MAX_BYTES, so save refuses to write one
    (and writes nothing)"""
    net = NeuralNetwork([2, 2, 1], seed=0)
    net.vocabulary = Vocabulary([f"w{i}" for i in range(150_000)], level="word")
    with pytest.raises(ValueError, match="vocabulary of 150002 ids.*max_size"):
        net.save(tmp_path / "big.npz")
    assert list(tmp_path.iterdir()) == []
