"""Text for sequence models: a Vocabulary maps characters or words to integer ids and back,
with id 0 for padding and id 1 for anything unknown. It is plain data (to_config /
from_config give JSON-safe dicts), so a model file can carry it (barenet.io: set
`model.vocabulary = vocab` before saving). Reading text files and cutting id arrays into
training windows are barenet.datasets' (load_text, sequences)."""

import collections
import re

import numpy as np

from ._validation import check_bool, check_int

__all__ = ["Vocabulary", "tokenize", "PAD", "UNK", "LEVELS"]

PAD, UNK = 0, 1                       # the reserved ids
LEVELS = ("char", "word")
UNKNOWN_TEXT = {"char": "\N{REPLACEMENT CHARACTER}", "word": "<unk>"}  # how UNK decodes
_WORD = re.compile(r"\w+|[^\w\s]")


def tokenize(text, level="char", lowercase=False):
    """the tokens of text: its characters ("char"), or ("word") its words and punctuation
    marks: runs of letters, digits and underscores (Unicode's \\w), and every other
    non-space character on its own; whitespace only separates. lowercase folds case
    first (str.lower)."""
    if not isinstance(text, str):
        raise TypeError(f"text must be a str; got {type(text).__name__}")
    if level not in LEVELS:
        raise ValueError(f"level must be one of {LEVELS}; got {level!r}")
    if check_bool(lowercase, "lowercase"):
        text = text.lower()
    return list(text) if level == "char" else _WORD.findall(text)


def _check_tokens(tokens, level):
    """tokens as a tuple of distinct strs that the level's tokenizer can give"""
    if isinstance(tokens, (str, bytes)) or not hasattr(tokens, "__iter__"):
        raise TypeError(f"tokens must be a list of str; got {type(tokens).__name__}")
    tokens = tuple(tokens)
    for i, token in enumerate(tokens):
        if not isinstance(token, str):
            raise TypeError(f"tokens[{i}] must be a str; got {type(token).__name__}")
        if level == "char" and len(token) != 1:
            raise ValueError(f"tokens[{i}] must be one character for level='char'; got "
                             f"{token!r}")
        if level == "word" and (not token or _WORD.fullmatch(token) is None):
            raise ValueError(f"tokens[{i}] must be a word or one punctuation mark (what "
                             f"level='word' tokenizes text into); got {token!r}")
    if len(set(tokens)) != len(tokens):
        seen = collections.Counter(tokens)
        twice = next(t for t in tokens if seen[t] > 1)
        raise ValueError(f"tokens must be distinct; {twice!r} appears {seen[twice]} times")
    return tokens


class Vocabulary:
    """Token <-> id maps for character- or word-level models.

    Ids: 0 is padding (PAD), 1 the unknown token (UNK), then ``tokens[0]`` is 2,
    ``tokens[1]`` is 3, ...; ``len(vocab)`` counts the two reserved ids, so it is the
    ``input_dim`` an embedding of these ids needs. Build one with ``from_text``; two
    vocabularies are equal when level, lowercase and tokens (in order) are.

    Parameters
    ----------
    tokens : list of str
        Distinct tokens in id order: single characters for level "char", words or single
        punctuation marks (what ``tokenize`` gives) for level "word".
    level : {"char", "word"}
    lowercase : bool
        Fold text to lower case before encoding (and when building from text).
    """

    def __init__(self, tokens, *, level="char", lowercase=False):
        if level not in LEVELS:
            raise ValueError(f"level must be one of {LEVELS}; got {level!r}")
        self.level = level
        self.lowercase = check_bool(lowercase, "lowercase")
        self.tokens = _check_tokens(tokens, level)
        self._ids = {token: i + 2 for i, token in enumerate(self.tokens)}

    @classmethod
    def from_text(cls, text, level="char", *, max_size=None, min_count=1, lowercase=False):
        """The vocabulary of text's tokens (``tokenize``): those seen at least min_count
        times, the most frequent first (ties in code-point order, so the result does not
        depend on where in the text a token first appears), at most max_size ids in all
        (the two reserved ones included: ``len(vocab) <= max_size``)."""
        tokens = tokenize(text, level, lowercase)
        min_count = check_int(min_count, "min_count", minimum=1)
        if max_size is not None:
            max_size = check_int(max_size, "max_size", minimum=2)
        counts = collections.Counter(tokens)
        kept = sorted((t for t, c in counts.items() if c >= min_count),
                      key=lambda t: (-counts[t], t))
        if max_size is not None:
            kept = kept[:max_size - 2]
        return cls(kept, level=level, lowercase=lowercase)

    def __len__(self):
        return len(self.tokens) + 2

    def __eq__(self, other):
        if not isinstance(other, Vocabulary):
            return NotImplemented
        return (self.level, self.lowercase, self.tokens) == (other.level, other.lowercase,
                                                              other.tokens)

    def __hash__(self):
        return hash((self.level, self.lowercase, self.tokens))

    def __repr__(self):
        shown = ", ".join(map(repr, self.tokens[:8])) + (", ..." if len(self.tokens) > 8 else "")
        return f"Vocabulary({len(self)} ids, level={self.level!r}, tokens=[{shown}])"

    def id_of(self, token):
        """the id of one token (UNK for one not in the vocabulary)"""
        if not isinstance(token, str):
            raise TypeError(f"token must be a str; got {type(token).__name__}")
        return self._ids.get(token.lower() if self.lowercase else token, UNK)

    def encode(self, text):
        """text's tokens as ids: a 1-D np.int64 array; tokens not in the vocabulary get
        UNK (1)"""
        ids = self._ids
        return np.array([ids.get(t, UNK) for t in tokenize(text, self.level, self.lowercase)],
                        dtype=np.int64)

    def decode(self, ids):
        """The text of a 1-D sequence of ids: characters joined as they are, words joined
        with single spaces. Padding (0) is left out; UNK (1) becomes U+FFFD at level
        "char" and "<unk>" at level "word". Ids must be integers in [0, len(self))."""
        arr = np.asarray(ids)
        if arr.dtype == object or arr.dtype.kind not in "iu":
            raise TypeError("ids must be integers (an int array or a list of ints); got "
                            + (f"dtype {arr.dtype}" if arr.dtype != object else
                               type(ids).__name__))
        if arr.ndim != 1:
            raise ValueError(f"ids must be one sequence, shape (T,); got shape {arr.shape} "
                             "(decode a batch row by row)")
        bad = np.flatnonzero((arr < 0) | (arr >= len(self)))
        if bad.size:
            raise ValueError(f"ids must be in [0, {len(self)}) for this vocabulary of "
                             f"{len(self)} ids; ids[{bad[0]}] is {arr[bad[0]]}")
        unknown = UNKNOWN_TEXT[self.level]
        words = [unknown if i == UNK else self.tokens[i - 2] for i in arr.tolist() if i != PAD]
        return "".join(words) if self.level == "char" else " ".join(words)

    def to_config(self):
        """a JSON-safe dict from which from_config rebuilds an equal vocabulary"""
        return {"level": self.level, "lowercase": self.lowercase, "tokens": list(self.tokens)}

    @classmethod
    def from_config(cls, config):
        """the vocabulary to_config described; TypeError or ValueError for anything else"""
        if not isinstance(config, dict):
            raise TypeError(f"a vocabulary config must be a dict; got {type(config).__name__}")
        keys = {"level", "lowercase", "tokens"}
        if set(config) != keys:
            raise ValueError(f"a vocabulary config has the keys {sorted(keys)}; got "
                             f"{sorted(map(str, config))}")
        return cls(config["tokens"], level=config["level"], lowercase=config["lowercase"])
