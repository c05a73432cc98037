"""Chinese text normalisation: what upstream's ``chinese2.text_normalize`` does before G2P.

Steps (upstream order): split into sentences on ``：、，；。？！,;?!`` (dropping spaces and decoration characters),
per sentence: traditional → simplified, full-width → half-width letters/digits/space, verbalise dates, times,
unit ranges, temperatures, measure units, arithmetic, powers, fractions, percentages, phone numbers, ranges,
negative/version/decimal numbers, number + quantifier, digit strings and remaining numbers (``zh_numbers``), then
the post-replacements (``/`` → 每, circled digits, Greek letters, operators). Finally the punctuation map, deletion
of everything that is not a CJK ideograph U+4E00–U+9FA5 or one of ``! ? … , . -``, and collapse of punctuation runs.

The output has exactly one character per BERT token and per ``word2ph`` entry.
"""

from __future__ import annotations

import re
import string
import unicodedata
import warnings
from functools import lru_cache
from importlib import resources

from gpt_sovits.text import zh_numbers as N

PUNCTUATION = "!?…,.-"  # the phone-table punctuation kept in normalised text

# full-width → half-width for ASCII letters and digits. Upstream also lists the ideographic space U+3000, but keyed
# by the character instead of its code point, so ``str.translate`` never applies it: U+3000 survives normalisation
# (it then blocks e.g. the "2024 01 15" date and "+86 138..." phone patterns) and is deleted with the other symbols.
_F2H = {ord(c) + 0xFEE0: ord(c) for c in string.ascii_letters + string.digits}

_SENTENCE_SPLIT = re.compile(r"([：、，；。？！,;?!][”’]?)")
_SPLIT_DROP = re.compile(r"[—《》【】<>{}()（）#&@“”^_|\\]")
_POST_DROP = re.compile(r"[-—《》【】<=>{}()（）#&@“”^_|\\]")

_POST_REPLACE: tuple[tuple[str, str], ...] = (
    ("/", "每"),
    ("①", "一"),
    ("②", "二"),
    ("③", "三"),
    ("④", "四"),
    ("⑤", "五"),
    ("⑥", "六"),
    ("⑦", "七"),
    ("⑧", "八"),
    ("⑨", "九"),
    ("⑩", "十"),
    ("α", "阿尔法"),
    ("β", "贝塔"),
    ("γ", "伽玛"),
    ("Γ", "伽玛"),
    ("δ", "德尔塔"),
    ("Δ", "德尔塔"),
    ("ε", "艾普西龙"),
    ("ζ", "捷塔"),
    ("η", "依塔"),
    ("θ", "西塔"),
    ("Θ", "西塔"),
    ("ι", "艾欧塔"),
    ("κ", "喀帕"),
    ("λ", "拉姆达"),
    ("Λ", "拉姆达"),
    ("μ", "缪"),
    ("ν", "拗"),
    ("ξ", "克西"),
    ("Ξ", "克西"),
    ("ο", "欧米克伦"),
    ("π", "派"),
    ("Π", "派"),
    ("ρ", "肉"),
    ("ς", "西格玛"),
    ("Σ", "西格玛"),
    ("σ", "西格玛"),
    ("τ", "套"),
    ("υ", "宇普西龙"),
    ("φ", "服艾"),
    ("Φ", "服艾"),
    ("χ", "器"),
    ("ψ", "普赛"),
    ("Ψ", "普赛"),
    ("ω", "欧米伽"),
    ("Ω", "欧米伽"),
    # leftover operators (after the arithmetic rule), also covers internet shorthand like "++"
    ("+", "加"),
    ("-", "减"),
    ("×", "乘"),
    ("÷", "除"),
    ("=", "等"),
)

# punctuation map applied after normalisation (v2 = chinese2; v1 lacks the two tildes)
PUNCT_MAP_V2: dict[str, str] = {
    "：": ",",
    "；": ",",
    "，": ",",
    "。": ".",
    "！": "!",
    "？": "?",
    "\n": ".",
    "·": ",",
    "、": ",",
    "...": "…",
    "$": ".",
    "/": ",",
    "—": "-",
    "~": "…",
    "～": "…",
}
PUNCT_MAP_V1: dict[str, str] = {k: v for k, v in PUNCT_MAP_V2.items() if k not in ("~", "～")}

_KEEP = re.compile(r"[^\u4e00-\u9fa5" + re.escape(PUNCTUATION) + r"]+")
_PUNCT_RUN = re.compile("([" + re.escape(PUNCTUATION) + "])([" + re.escape(PUNCTUATION) + "])+")


# Where upstream's own character table disagrees with OpenCC's TSCharacters (first candidate). Upstream converts
# character by character with a table in which later pairs win; these are the differences found for the characters of
# Big5 and GB2312 (the ones real texts use), written as facts about upstream's output.
# Characters upstream leaves unchanged although OpenCC converts them (昇 徵 夥 樑 祕 菸 閒 豔 脣 汙 洩 吒 ...):
T2S_KEEP = (
    "於乾傢嚮俔俬冑勩厤吒唸啢嗊埰壎夥嫿嬃寀嶢嶨嶮巰廎彔徵憖懞挩捱掗揯摺擣敓昇曏朮枴柺梲棶榘榦槶槼樑樧樿氾汎汙泝洩"
    "涗淩渢溮溳溼漊澐澦澩濜熅燻犛獃琱瑒瑲璡璫璸璿痠瘺皁瞶硜碕磠祕秈穭窵篠簑紖絃絰綌綞綯縕纇羶翫翽脣脩菴菸萴蒐蓆"
    "蔘薀薘薟薴薹蘀虆蠁襉襏襬訒詗諝譸讅豔豶賵赬蹠軑輈輬酇醟醣鈃鈅鈒鉆鉶銍鋙錩錼鍚鎌鎚鎲鏍鏽鐋鐶鑕鑱钂閒閤闒闠闤"
    "霢鞝韍韝頲颸飀飣飥餈餖餚馹騂騤驌驦驫魛魨魺鮓鮦鮶鯕鰜鰼鱠鱨鳲鵃鵷鶊鶡鶬鶹鶿鷁鷊鷚鷫鸇鸏麴黶齕齗齧"
)
# Characters upstream converts differently from OpenCC, or converts where OpenCC does not (託 → 讬, 鍾 → 锺, 諮 → 谘,
# 瀋 → 渖, 暱 → 昵, 砲 → 炮, 琊 → 玡, ...); "source target" pairs:
T2S_MAP = (
    "麼麽 餘馀 姪侄 偪逼 傌骂 傚效 儗拟 儸㑩 剉锉 劄札 勣绩 勦剿 咷啕 唚吣 啣衔 嬝袅 尒尔 屭屃 嶴岙 彊强 怳恍 惷蠢 揹背 "
    "搯掏 撝㧑 暱昵 桮杯 楄匾 櫂棹 櫺棂 殀夭 殽肴 濬浚 瀋渖 獘毙 玨珏 珮佩 琊玡 瑯琅 畬畲 痺痹 睪睾 瞇眯 瞜䁖 砲炮 礡礴 "
    "筩筒 簷檐 籐藤 粺稗 綵䌽 耑专 膆嗉 臕膘 舖铺 荳豆 菕芲 萹扁 薙剃 蝯猿 螮䗖 裌夹 褭袅 託讬 訢䜣 誖悖 諠喧 諮谘 譔撰 "
    "讌䜩 谿溪 貍狸 貙䝙 遉侦 遶绕 鉅钜 銲焊 鋻鉴 鍾锺 鏇镟 隄堤 餔哺 餽馈 駮驳 髐髇 鰆䲠 鷈䴘 鷿䴙"
)


def _is_basic_cjk(char: str) -> bool:
    return "\u4e00" <= char <= "\u9fa5"


@lru_cache(maxsize=1)
def _t2s_table() -> dict[int, str]:
    """Character-level traditional → simplified table (OpenCC's TSCharacters, first candidate per character), adjusted
    to upstream's table.

    Upstream's table only produces characters of the basic CJK block, so a basic-block character whose OpenCC target
    lies outside it (rare characters simplified into extension B) is left as it is. Phrase-level OpenCC conversion is
    deliberately not used (upstream has none).
    """
    table: dict[int, str] = {}
    text = resources.files("opencc").joinpath("dictionary/TSCharacters.txt").read_text(encoding="utf-8")
    for line in text.splitlines():
        parts = line.split("\t")
        if len(parts) != 2 or len(parts[0]) != 1:
            continue
        target = parts[1].split(" ")[0]
        if len(target) == 1 and target != parts[0] and not (_is_basic_cjk(parts[0]) and not _is_basic_cjk(target)):
            table[ord(parts[0])] = target
    for char in T2S_KEEP:
        table.pop(ord(char), None)
    for pair in T2S_MAP.split():
        table[ord(pair[0])] = pair[1]
    return table


def traditional_to_simplified(text: str) -> str:
    return text.translate(_t2s_table())


def _ascii_digits(text: str) -> str:
    """Other scripts' decimal digits → ASCII (upstream's ``\\d`` patterns match them but then fail to read them)."""
    if text.isascii():
        return text
    return "".join(str(unicodedata.digit(c)) if c.isdecimal() and not c.isascii() else c for c in text)


def split_sentences(text: str) -> list[str]:
    text = text.replace(" ", "")
    text = _SPLIT_DROP.sub("", text)
    text = _SENTENCE_SPLIT.sub(r"\1\n", text).strip()
    return [s.strip() for s in re.split(r"\n+", text)]


def normalize_sentence(sentence: str) -> str:
    """Verbalise the non-standard words of one sentence (numbers, dates, units, ...)."""
    s = traditional_to_simplified(sentence)
    s = _ascii_digits(s.translate(_F2H))
    s = N.RE_DATE.sub(N.replace_date, s)
    s = N.RE_DATE2.sub(N.replace_date2, s)
    s = N.RE_TIME_RANGE.sub(N.replace_time, s)
    s = N.RE_TIME.sub(N.replace_time, s)
    s = N.RE_TO_RANGE.sub(N.replace_to_range, s)
    s = N.RE_TEMPERATURE.sub(N.replace_temperature, s)
    s = N.replace_measure(s)
    while N.RE_ASMD.search(s):
        s = N.RE_ASMD.sub(N.replace_asmd, s)
    s = N.RE_POWER.sub(N.replace_power, s)
    s = N.RE_FRAC.sub(N.replace_frac, s)
    s = N.RE_PERCENTAGE.sub(N.replace_percentage, s)
    s = N.RE_MOBILE_PHONE.sub(N.replace_mobile, s)
    s = N.RE_TELEPHONE.sub(N.replace_phone, s)
    s = N.RE_NATIONAL_UNIFORM_NUMBER.sub(N.replace_phone, s)
    s = N.RE_RANGE.sub(N.replace_range, s)
    s = N.RE_INTEGER.sub(N.replace_negative_num, s)
    s = N.RE_VERSION_NUM.sub(N.replace_version_num, s)
    s = N.RE_DECIMAL_NUM.sub(N.replace_number, s)
    s = N.RE_POSITIVE_QUANTIFIERS.sub(N.replace_positive_quantifier, s)
    s = N.RE_DEFAULT_NUM.sub(N.replace_default_num, s)
    s = N.RE_NUMBER.sub(N.replace_number, s)
    for old, new in _POST_REPLACE:
        s = s.replace(old, new)
    return _POST_DROP.sub("", s)


def replace_punctuation(text: str, punct_map: dict[str, str] = PUNCT_MAP_V2) -> str:
    """Map Chinese punctuation to the phone-table marks and delete everything that is not CJK or a kept mark."""
    text = text.replace("嗯", "恩").replace("呣", "母")
    pattern = re.compile("|".join(re.escape(p) for p in punct_map))
    text = pattern.sub(lambda m: punct_map[m.group(0)], text)
    return _KEEP.sub("", text)


def collapse_punctuation(text: str) -> str:
    """A run of marks becomes its first mark (``?!`` → ``?``)."""
    return _PUNCT_RUN.sub(r"\1", text)


def text_normalize(text: str) -> str:
    """v2 normalisation (upstream ``chinese2.text_normalize``)."""
    out = "".join(replace_punctuation(normalize_sentence(s)) for s in split_sentences(text))
    return collapse_punctuation(out)


def text_normalize_v1(text: str) -> str:
    """v1 normalisation (upstream ``chinese.text_normalize``: cn2an digit conversion, then the v1 punctuation map)."""
    import cn2an  # optional heavy import, only the v1 path needs it

    try:
        with warnings.catch_warnings():  # cn2an warns (and leaves the text) for digits of other scripts
            warnings.simplefilter("ignore", UserWarning)
            converted = cn2an.transform(text, "an2cn")
    except (ValueError, KeyError, IndexError) as exc:  # cn2an rejects some malformed numbers
        raise ValueError(f"cannot verbalise the numbers in {text[:50]!r}: {exc}") from exc
    return replace_punctuation(converted, PUNCT_MAP_V1)
