"""English G2P with upstream's semantics (``english.py``: ``en_G2p`` on top of g2p_en), offline and without NLTK data.

Per token of nltk's ``TweetTokenizer`` (a regex tokenizer; it needs no NLTK data):

1. a user-lexicon entry, if a lexicon is given (our addition: lets users fix a word without code);
2. no ASCII letter → the token itself (punctuation; ``'`` later becomes ``-``);
3. a single letter → its CMU entry (a capital ``A`` alone → ``EY1``);
4. a g2p_en homograph → chosen by g2p_en's POS-tag rule, with a stand-in tag (see :func:`homograph_tag`);
5. otherwise :meth:`EnglishG2P.query_word`: upstream's dictionary (CMUdict 0.7b order, see
   :mod:`gpt_sovits.text.en_dict`) → names dictionary for title-case words → OOV of ≤ 3 characters spelled letter
   by letter → ``'s`` possessive → compound split with ``wordsegment`` (recursive) → g2p_en's neural predictor.

Post-processing as upstream: drop ``" " <pad> UW </s> <s>``, ``<unk>`` → ``UNK``, ``'`` → ``-``, drop anything that
is not in the v2 symbol table.
"""

from __future__ import annotations

import re
from functools import cached_property, lru_cache
from typing import Any, Protocol

from gpt_sovits.text.en_dict import EnglishDictionary
from gpt_sovits.text.en_normalize import text_normalize as _text_normalize
from gpt_sovits.text.en_predict import NeuralG2P, load_homographs
from gpt_sovits.text.symbols import SYMBOLS_V2

# Upstream tags tokens with nltk.pos_tag, which needs the averaged-perceptron tagger data (not on PyPI); only the
# 371 g2p_en homographs use the tag (366 of them have a verb reading "V" first, e.g. "record", "present",
# "object", "use", "close", "permit"; "live" and "lead" are not among them). The reference data was made with every
# token tagged "NN" and contains no homograph. We tag a homograph as a verb when the token before it makes that
# near-certain (see :func:`homograph_tag`), otherwise "NN". Results can differ from upstream's tagger wherever the
# two taggers disagree: a verb without one of these cues ("the birds record songs", "records show"), a noun right
# after one ("to records"), and the few non-verb entries ("complex" JJ, "closer", "content", "accents").
HOMOGRAPH_TAG = "NN"
_VERB_CUE_WORDS = (
    "to will would can could shall should may might must do does did don't doesn't didn't won't wouldn't can't "
    "cannot couldn't shouldn't not never please let's"
)
_VERB_CUES = frozenset(_VERB_CUE_WORDS.split())
_PLURAL_SUBJECTS = frozenset({"i", "you", "we", "they"})
_SINGULAR_SUBJECTS = frozenset({"he", "she", "it"})


def homograph_tag(previous_token: str | None) -> str:
    """A stand-in for nltk.pos_tag's tag of a homograph, from the token before it."""
    prev = (previous_token or "").lower()
    if prev in _VERB_CUES:
        return "VB"
    if prev in _PLURAL_SUBJECTS:
        return "VBP"
    if prev in _SINGULAR_SUBJECTS:
        return "VBZ"
    return HOMOGRAPH_TAG


_DROPPED = {" ", "<pad>", "UW", "</s>", "<s>"}
_VOICELESS_ENDINGS = {"P", "T", "K", "F", "TH", "HH"}
_SIBILANT_ENDINGS = {"S", "Z", "SH", "ZH", "CH", "JH"}
_HAS_LETTER = re.compile("[a-z]")
_POSSESSIVE = re.compile(r"^([a-z]+)('s)$")


class Lexicon(Protocol):
    def lookup(self, language: str, word: str) -> list[str] | None: ...


def homograph_reading(entry: tuple[list[str], list[str], str], tag: str = HOMOGRAPH_TAG) -> list[str]:
    """g2p_en's rule (plus upstream's prefix case): first reading when ``tag`` starts with the entry's tag or is a
    prefix of it, else the second."""
    first, second, entry_tag = entry
    if tag.startswith(entry_tag) or (len(tag) < len(entry_tag) and entry_tag[: len(tag)] == tag):
        return first
    return second


class EnglishG2P:
    """Holds the dictionary, homograph table, word segmenter, tokenizer and neural model (all loaded lazily)."""

    @cached_property
    def cmu(self) -> EnglishDictionary:
        return EnglishDictionary()

    @cached_property
    def homographs(self) -> dict[str, tuple[list[str], list[str], str]]:
        table = load_homographs()
        # upstream's corrections of two g2p_en entries
        table["read"] = (["R", "IY1", "D"], ["R", "EH1", "D"], "VBP")
        table["complex"] = (
            ["K", "AH0", "M", "P", "L", "EH1", "K", "S"],
            ["K", "AA1", "M", "P", "L", "EH0", "K", "S"],
            "JJ",
        )
        return table

    @cached_property
    def segmenter(self) -> Any:
        import wordsegment  # unigram/bigram counts ship inside the wheel

        seg = wordsegment.Segmenter()
        seg.load()
        return seg

    @cached_property
    def predictor(self) -> NeuralG2P:
        return NeuralG2P()

    @cached_property
    def tokenize(self) -> Any:
        from nltk.tokenize.casual import TweetTokenizer  # pure regexes; no NLTK data is read

        return TweetTokenizer().tokenize

    def _letter(self, letter: str) -> list[str]:
        return self.cmu.word(letter) or []  # non-ASCII letters only reach here when g2p is called unnormalised

    def query_word(self, o_word: str, lexicon: Lexicon | None = None) -> list[str]:
        """Pronunciation of one word that is not a single letter or homograph (upstream's ``qryword``)."""
        if lexicon is not None:
            user = lexicon.lookup("en", o_word)
            if user:
                return list(user)
        word = o_word.lower()
        if len(word) > 1:
            found = self.cmu.word(word)
            if found is not None:
                return found
        found = self.cmu.name(o_word)
        if found is not None:
            return found
        if len(word) <= 3:
            phones: list[str] = []
            for ch in word:
                if ch == "a":
                    phones.append("EY1")
                elif not ch.isalpha():
                    phones.append(ch)
                else:
                    phones.extend(self._letter(ch))
            return phones
        if _POSSESSIVE.match(word):
            phones = self.query_word(word[:-2], lexicon)
            last = phones[-1] if phones else ""
            if last in _VOICELESS_ENDINGS:
                return phones + ["S"]
            if last in _SIBILANT_ENDINGS:
                return phones + ["AH0", "Z"]
            return phones + ["Z"]
        parts = self.segmenter.segment(word)
        if len(parts) == 1:
            return self.predictor.predict(word)
        return [ph for part in parts for ph in self.query_word(part, lexicon)]

    def token_phones(self, o_word: str, lexicon: Lexicon | None = None, tag: str = HOMOGRAPH_TAG) -> list[str]:
        """Phones of one token, before post-processing (``tag`` only matters for homographs)."""
        word = o_word.lower()
        if _HAS_LETTER.search(word) is None:
            return [word]
        if lexicon is not None:
            user = lexicon.lookup("en", o_word)
            if user:
                return list(user)
        if len(word) == 1:
            return ["EY1"] if o_word == "A" else self._letter(word)
        if word in self.homographs:
            return list(homograph_reading(self.homographs[word], tag))
        return self.query_word(o_word, lexicon)

    def raw_phones(self, text: str, lexicon: Lexicon | None = None) -> list[str]:
        """Phones with ``" "`` between tokens, exactly what upstream's ``en_G2p.__call__`` returns."""
        out: list[str] = []
        previous: str | None = None
        for token in self.tokenize(text):
            out.extend(self.token_phones(token, lexicon, homograph_tag(previous)))
            out.append(" ")
            previous = token
        return out[:-1]

    def __call__(self, text: str, lexicon: Lexicon | None = None) -> list[str]:
        table = _symbol_set()
        phones: list[str] = []
        for ph in self.raw_phones(text, lexicon):
            if ph in _DROPPED:
                continue
            if ph == "<unk>":
                ph = "UNK"
            if ph in table:
                phones.append(ph)
            elif ph == "'":
                phones.append("-")
        return phones


@lru_cache(maxsize=1)
def _symbol_set() -> frozenset[str]:
    return frozenset(SYMBOLS_V2)


@lru_cache(maxsize=1)
def default_g2p() -> EnglishG2P:
    """The process-wide converter used by :func:`g2p` (dictionary and models are loaded once, on first use)."""
    return EnglishG2P()


def text_normalize(text: str, lexicon: Lexicon | None = None) -> str:
    """Upstream's English normalisation (see :mod:`gpt_sovits.text.en_normalize`). Pass the user lexicon so that
    its words survive the split at inner capitals ("GPT" would otherwise become "G P T" before the G2P sees it)."""
    return _text_normalize(text, lexicon)


def g2p(norm_text: str, lexicon: Lexicon | None = None) -> tuple[list[str], None]:
    """ARPAbet phones (+ punctuation) of normalised English text; English has no word2ph."""
    return default_g2p()(norm_text, lexicon), None
