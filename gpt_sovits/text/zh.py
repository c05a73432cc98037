"""Chinese (Mandarin) frontend: normalised text → opencpop phones and ``word2ph``.

Pipeline per sentence (upstream ``chinese2`` with its pypinyin branch): jieba POS segmentation → tone-sandhi
pre-merge → per word: user lexicon, or pypinyin initials/finals (``neutral_tone_with_five``) → tone sandhi → erhua →
syllable → two phones (``zh_pinyin``). Each Chinese character yields 2 phones (``word2ph`` 2), each punctuation
mark 1.

Upstream's default Chinese path predicts pinyin with the G2PW ONNX model, which cannot be shipped; this module
uses the pypinyin branch (upstream's own fallback). A sentence-level pinyin predictor can be plugged in through
``ChineseG2P(pinyin_predictor=...)``: a callable returning one TONE3 pinyin per character of the sentence (and the
character itself for punctuation), as G2PW does.

v1 models use upstream's older ``chinese`` module: cn2an number conversion, no tilde mapping, no erhua.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import TYPE_CHECKING

from pypinyin import Style, lazy_pinyin

from gpt_sovits.text.errors import TextFrontendError
from gpt_sovits.text.zh_normalize import PUNCTUATION, text_normalize_v1
from gpt_sovits.text.zh_normalize import text_normalize as _normalize_v2
from gpt_sovits.text.zh_pinyin import syllable_phones
from gpt_sovits.text.zh_tone_sandhi import ToneSandhi

if TYPE_CHECKING:
    from gpt_sovits.text.lexicon import UserLexicon

PinyinPredictor = Callable[[str], Sequence[str]]

MUST_ERHUA = frozenset(["小院儿", "胡同儿", "范儿", "老汉儿", "撒欢儿", "寻老礼儿", "妥妥儿", "媳妇儿"])
NOT_ERHUA = frozenset(
    [
        "虐儿",
        "为儿",
        "护儿",
        "瞒儿",
        "救儿",
        "替儿",
        "有儿",
        "一儿",
        "我儿",
        "俺儿",
        "妻儿",
        "拐儿",
        "聋儿",
        "乞儿",
        "患儿",
        "幼儿",
        "孤儿",
        "婴儿",
        "婴幼儿",
        "连体儿",
        "脑瘫儿",
        "流浪儿",
        "体弱儿",
        "混血儿",
        "蜜雪儿",
        "舫儿",
        "祖儿",
        "美儿",
        "应采儿",
        "可儿",
        "侄儿",
        "孙儿",
        "侄孙儿",
        "女儿",
        "男儿",
        "红孩儿",
        "花儿",
        "虫儿",
        "马儿",
        "鸟儿",
        "猪儿",
        "猫儿",
        "狗儿",
        "少儿",
    ]
)

_SENTENCE_END = re.compile(r"(?<=[" + re.escape(PUNCTUATION) + r"])\s*")
_LATIN = re.compile(r"[a-zA-Z]+")


def merge_erhua(initials: list[str], finals: list[str], word: str, pos: str) -> tuple[list[str], list[str]]:
    """儿 keeps its own two phones but takes the previous syllable's tone (玩儿 → w an2 EE er2), unless the word is
    one where 儿 is a full syllable (女儿, 婴儿, names: POS a/j/nr)."""
    finals = list(finals)
    if finals and len(word) == len(finals) and word[-1] == "儿" and finals[-1] == "er1":
        finals[-1] = "er2"
    if word not in MUST_ERHUA and (word in NOT_ERHUA or pos in {"a", "j", "nr"}):
        return initials, finals
    if len(finals) != len(word):
        return initials, finals
    if len(word) >= 2 and word[-1] == "儿" and finals[-1] in {"er2", "er5"} and word[-2:] not in NOT_ERHUA:
        finals[-1] = "er" + finals[-2][-1]
    return initials, finals


class ChineseG2P:
    """Chinese normalisation + G2P. Holds its own jieba tokenizer (built on first use, ~1 s)."""

    def __init__(self, version: str = "v2", pinyin_predictor: PinyinPredictor | None = None):
        self.v1 = version == "v1"
        self.pinyin_predictor = pinyin_predictor
        self._posseg = None
        self._tokenizer = None
        self._jieba_lock = threading.Lock()  # a warm-up thread and a request may both arrive here first
        self._sandhi = ToneSandhi(self._cut_for_search)

    # ------------------------------------------------------------------------------------------ jieba
    def _ensure_jieba(self) -> None:
        if self._posseg is not None:
            return
        with self._jieba_lock:
            if self._posseg is not None:  # built by another thread while this one waited
                return
            import jieba
            import jieba.posseg

            logger = logging.getLogger("jieba")
            old_level = logger.level
            logger.setLevel(logging.WARNING)  # jieba logs "Building prefix dict ..." at DEBUG to stderr
            try:
                tokenizer = jieba.Tokenizer()
                tokenizer.initialize()
                posseg = jieba.posseg.POSTokenizer(tokenizer)
            finally:
                logger.setLevel(old_level)
            self._tokenizer = tokenizer
            self._posseg = posseg  # last: a non-None `_posseg` means both are ready

    def _cut_for_search(self, word: str) -> list[str]:
        self._ensure_jieba()
        return list(self._tokenizer.cut_for_search(word))

    def segment(self, sentence: str) -> list[tuple[str, str]]:
        """jieba (word, POS) pairs."""
        self._ensure_jieba()
        return [(p.word, p.flag) for p in self._posseg.lcut(sentence)]

    # ------------------------------------------------------------------------------------------ public API
    def normalize(self, text: str) -> str:
        if self.v1:
            try:
                return text_normalize_v1(text)
            except ValueError as exc:
                raise TextFrontendError(str(exc)) from exc
        return _normalize_v2(text)

    def g2p(self, norm_text: str, lexicon: UserLexicon | None = None) -> tuple[list[str], list[int]]:
        """Normalised text → (phones, word2ph), ``len(word2ph) == len(norm_text)`` for normalised input."""
        sentences = [s for s in _SENTENCE_END.split(norm_text) if s.strip()]
        phones: list[str] = []
        word2ph: list[int] = []
        for sentence in sentences:
            sentence = _LATIN.sub("", sentence)
            for chunk, fixed in self._split_on_lexicon(sentence, lexicon):
                if fixed is not None:
                    phones += fixed
                    word2ph += [2] * len(chunk)
                elif chunk:
                    initials, finals = self._chunk_pinyin(chunk)
                    self._emit(initials, finals, chunk, phones, word2ph)
        return phones, word2ph

    # ------------------------------------------------------------------------------------------ internals
    @staticmethod
    def _split_on_lexicon(sentence: str, lexicon: UserLexicon | None) -> list[tuple[str, list[str] | None]]:
        """Cut the sentence at user-lexicon words (longest match first); those come with their fixed phones.
        Tone sandhi does not cross a lexicon word."""
        if lexicon is None:
            return [(sentence, None)]
        pattern = lexicon.pattern("zh")
        if pattern is None:
            return [(sentence, None)]
        out: list[tuple[str, list[str] | None]] = []
        pos = 0
        for m in pattern.finditer(sentence):
            if m.start() > pos:
                out.append((sentence[pos : m.start()], None))
            out.append((m.group(0), lexicon.lookup("zh", m.group(0))))
            pos = m.end()
        if pos < len(sentence):
            out.append((sentence[pos:], None))
        return out

    def _chunk_pinyin(self, chunk: str) -> tuple[list[str], list[str]]:
        words = self._sandhi.pre_merge(self.segment(chunk))
        predicted = list(self.pinyin_predictor(chunk)) if self.pinyin_predictor is not None else None
        if predicted is not None and len(predicted) != len(chunk):
            raise TextFrontendError(f"pinyin predictor returned {len(predicted)} items for {len(chunk)} characters")
        initials: list[str] = []
        finals: list[str] = []
        offset = 0
        for word, pos in words:
            start, offset = offset, offset + len(word)
            if pos == "eng":
                continue
            if predicted is None:
                sub_i = lazy_pinyin(word, neutral_tone_with_five=True, style=Style.INITIALS)
                sub_f = lazy_pinyin(word, neutral_tone_with_five=True, style=Style.FINALS_TONE3)
            else:
                sub_i, sub_f = _split_tone3(predicted[start:offset])
            if len(sub_f) != len(word) or any(not f or (f not in PUNCTUATION and not f[-1].isdigit()) for f in sub_f):
                # upstream fails on these too (assertion); a few rare characters have no usable pinyin
                raise TextFrontendError(f"no Mandarin reading for {word!r} (in {chunk!r}); rewrite or remove it")
            sub_f = self._sandhi.modified_tone(word, pos, sub_f)
            if not self.v1:
                sub_i, sub_f = merge_erhua(sub_i, sub_f, word, pos)
            initials += sub_i
            finals += sub_f
        return initials, finals

    @staticmethod
    def _emit(initials: list[str], finals: list[str], chunk: str, phones: list[str], word2ph: list[int]) -> None:
        for c, v in zip(initials, finals):
            if c == v:
                if c not in PUNCTUATION:
                    raise TextFrontendError(f"no pinyin for {c!r} in {chunk!r}; normalise the text first")
                phones.append(c)
                word2ph.append(1)
                continue
            pair = syllable_phones(c, v)
            if pair is None:
                raise TextFrontendError(f"pinyin {c + v!r} in {chunk!r} is not a Mandarin syllable of the phone table")
            phones += pair
            word2ph.append(2)


def _split_tone3(pinyins: Sequence[str]) -> tuple[list[str], list[str]]:
    """TONE3 pinyin (``zhong1``) → pypinyin strict initials and FINALS_TONE3 (``zh``, ``ong1``)."""
    from pypinyin.contrib.tone_convert import to_finals_tone3, to_initials

    initials, finals = [], []
    for p in pinyins:
        if p and p[0].isalpha():
            initials.append(to_initials(p))
            finals.append(to_finals_tone3(p, neutral_tone_with_five=True))
        else:
            initials.append(p)
            finals.append(p)
    return initials, finals


@lru_cache(maxsize=2)
def default_g2p(version: str = "v2") -> ChineseG2P:
    """The shared pypinyin-based frontend for a version family ("v1" or "v2")."""
    return ChineseG2P("v1" if version == "v1" else "v2")


def text_normalize(text: str, version: str = "v2") -> str:
    return default_g2p("v1" if version == "v1" else "v2").normalize(text)


def g2p(norm_text: str, lexicon: UserLexicon | None = None, version: str = "v2") -> tuple[list[str], list[int]]:
    return default_g2p("v1" if version == "v1" else "v2").g2p(norm_text, lexicon)
