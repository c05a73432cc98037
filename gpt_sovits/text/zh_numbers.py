"""Chinese verbalisation of numbers, dates, times, phone numbers, units and arithmetic.

These are the rules of upstream's text normaliser (itself derived from PaddleSpeech's ``zh_normalization``),
re-expressed as small functions. Each ``RE_*`` pattern is paired with a ``replace_*`` callback for ``re.sub``;
``zh_normalize.normalize_sentence`` applies them in upstream's order, which matters (for example arithmetic runs
before phone numbers, so ``010-62345678`` reads as "零幺零减六二三四五六七八").
"""

from __future__ import annotations

import re

DIGITS = dict(zip("0123456789", "零一二三四五六七八九"))
# digit count below which each unit is used: 10^1 十, 10^2 百, 10^3 千, 10^4 万, 10^8 亿
_UNIT_POWERS = (8, 4, 3, 2, 1)
_UNIT_NAMES = {1: "十", 2: "百", 3: "千", 4: "万", 8: "亿"}


# --------------------------------------------------------------------------------------------- basic verbalisers
def _cardinal_symbols(value: str, use_zero: bool = True) -> list[str]:
    stripped = value.lstrip("0")
    if not stripped:
        return []
    if len(stripped) == 1:
        if use_zero and len(stripped) < len(value):
            return [DIGITS["0"], DIGITS[stripped]]
        return [DIGITS[stripped]]
    power = next(p for p in _UNIT_POWERS if p < len(stripped))
    head, tail = value[:-power], value[-power:]
    return _cardinal_symbols(head) + [_UNIT_NAMES[power]] + _cardinal_symbols(tail)


def verbalize_cardinal(value: str) -> str:
    """'1500' → 一千五百, '10' → 十 (a leading 一十 is shortened), '000' → 零."""
    if not value:
        return ""
    value = value.lstrip("0")
    if not value:
        return DIGITS["0"]
    symbols = _cardinal_symbols(value)
    if len(symbols) >= 2 and symbols[0] == DIGITS["1"] and symbols[1] == _UNIT_NAMES[1]:
        symbols = symbols[1:]
    return "".join(symbols)


def verbalize_digit(value: str, alt_one: bool = False) -> str:
    """Digit by digit; ``alt_one`` reads 1 as 幺 (phone numbers, codes)."""
    result = "".join(DIGITS[d] for d in value)
    return result.replace("一", "幺") if alt_one else result


def num2str(value: str) -> str:
    """Integer or decimal string → Chinese; '3.14' → 三点一四, '.5' → 零点五."""
    parts = value.split(".")
    if len(parts) == 1:
        integer, decimal = parts[0], ""
    elif len(parts) == 2:
        integer, decimal = parts
    else:
        raise ValueError(f"number {value!r} has more than one decimal point")
    result = verbalize_cardinal(integer)
    # upstream keeps one trailing zero of the fraction ('3.20' → 三点二零) and drops the rest
    if decimal.endswith("0"):
        decimal = decimal.rstrip("0") + "0"
    if decimal:
        result = result or DIGITS["0"]
        result += "点" + verbalize_digit(decimal)
    return result


def _sign(sign: str | None, word: str = "负") -> str:
    return word if sign else ""


# --------------------------------------------------------------------------------------------- dates and times
RE_DATE = re.compile(r"(\d{4}|\d{2})年((0?[1-9]|1[0-2])月)?(((0?[1-9])|((1|2)[0-9])|30|31)([日号]))?")
RE_DATE2 = re.compile(r"(\d{4})([- /.])(0[1-9]|1[012])\2(0[1-9]|[12][0-9]|3[01])")
_TIME = r"([0-1]?[0-9]|2[0-3]):([0-5][0-9])(:([0-5][0-9]))?"
RE_TIME = re.compile(_TIME)
RE_TIME_RANGE = re.compile(_TIME + r"(~|-)" + _TIME)


def replace_date(m: re.Match) -> str:
    year, month, day = m.group(1), m.group(3), m.group(5)
    out = ""
    if year:
        out += verbalize_digit(year) + "年"
    if month:
        out += verbalize_cardinal(month) + "月"
    if day:
        out += verbalize_cardinal(day) + m.group(9)
    return out


def replace_date2(m: re.Match) -> str:
    return f"{verbalize_digit(m.group(1))}年{verbalize_cardinal(m.group(3))}月{verbalize_cardinal(m.group(4))}日"


def _time_part(num: str) -> str:
    out = num2str(num.lstrip("0"))
    return DIGITS["0"] + out if num.startswith("0") else out


def replace_time(m: re.Match) -> str:
    """'10:30' → 十点半, '15:45:20' → 十五点四十五分二十秒; ranges joined with 至."""
    is_range = len(m.groups()) > 5
    hour, minute, second = m.group(1), m.group(2), m.group(4)
    out = num2str(hour) + "点"
    if minute.lstrip("0"):
        out += "半" if int(minute) == 30 else _time_part(minute) + "分"
    if second and second.lstrip("0"):
        out += _time_part(second) + "秒"
    if is_range:
        hour2, minute2, second2 = m.group(6), m.group(7), m.group(9)
        out += "至" + num2str(hour2) + "点"
        if minute2.lstrip("0"):
            # upstream quirk kept for parity: the 半 test looks at the *first* time's minutes
            out += "半" if int(minute) == 30 else _time_part(minute2) + "分"
        if second2 and second2.lstrip("0"):
            out += _time_part(second2) + "秒"
    return out


# --------------------------------------------------------------------------------------------- units
RE_TEMPERATURE = re.compile(r"(-?)(\d+(\.\d+)?)(°C|℃|度|摄氏度)")

# order matters: plain substring replacement, longer spellings listed before their prefixes (but "m" before "mm",
# exactly as upstream, so "mm" reads 米米)
MEASURE_UNITS: tuple[tuple[str, str], ...] = (
    ("cm2", "平方厘米"),
    ("cm²", "平方厘米"),
    ("cm3", "立方厘米"),
    ("cm³", "立方厘米"),
    ("cm", "厘米"),
    ("db", "分贝"),
    ("ds", "毫秒"),
    ("kg", "千克"),
    ("km", "千米"),
    ("m2", "平方米"),
    ("m²", "平方米"),
    ("m³", "立方米"),
    ("m3", "立方米"),
    ("ml", "毫升"),
    ("m", "米"),
    ("mm", "毫米"),
    ("s", "秒"),
)


def replace_temperature(m: re.Match) -> str:
    unit = "摄氏度" if m.group(4) == "摄氏度" else "度"
    return _sign(m.group(1), "零下") + num2str(m.group(2)) + unit


def replace_measure(sentence: str) -> str:
    for notation, word in MEASURE_UNITS:
        sentence = sentence.replace(notation, word)
    return sentence


# --------------------------------------------------------------------------------------------- phone numbers
RE_MOBILE_PHONE = re.compile(r"(?<!\d)((\+?86 ?)?1([38]\d|5[0-35-9]|7[678]|9[89])\d{8})(?!\d)")
RE_TELEPHONE = re.compile(r"(?<!\d)((0(10|2[1-3]|[3-9]\d{2})-?)?[1-9]\d{6,7})(?!\d)")
RE_NATIONAL_UNIFORM_NUMBER = re.compile(r"(400)(-)?\d{3}(-)?\d{4}")


def replace_mobile(m: re.Match) -> str:
    return "，".join(verbalize_digit(part, alt_one=True) for part in m.group(0).strip("+").split())


def replace_phone(m: re.Match) -> str:
    return "，".join(verbalize_digit(part, alt_one=True) for part in m.group(0).split("-"))


# --------------------------------------------------------------------------------------------- numbers
_QUANTIFIER_WORDS = [
    "处",
    "台",
    "架",
    "枚",
    "趟",
    "幅",
    "平",
    "方",
    "堵",
    "间",
    "床",
    "株",
    "批",
    "项",
    "例",
    "列",
    "篇",
    "栋",
    "注",
    "亩",
    "封",
    "艘",
    "把",
    "目",
    "套",
    "段",
    "人",
    "所",
    "朵",
    "匹",
    "张",
    "座",
    "回",
    "场",
    "尾",
    "条",
    "个",
    "首",
    "阙",
    "阵",
    "网",
    "炮",
    "顶",
    "丘",
    "棵",
    "只",
    "支",
    "袭",
    "辆",
    "挑",
    "担",
    "颗",
    "壳",
    "窠",
    "曲",
    "墙",
    "群",
    "腔",
    "砣",
    "座",
    "客",
    "贯",
    "扎",
    "捆",
    "刀",
    "令",
    "打",
    "手",
    "罗",
    "坡",
    "山",
    "岭",
    "江",
    "溪",
    "钟",
    "队",
    "单",
    "双",
    "对",
    "出",
    "口",
    "头",
    "脚",
    "板",
    "跳",
    "枝",
    "件",
    "贴",
    "针",
    "线",
    "管",
    "名",
    "位",
    "身",
    "堂",
    "课",
    "本",
    "页",
    "家",
    "户",
    "层",
    "丝",
    "毫",
    "厘",
    "分",
    "钱",
    "两",
    "斤",
    "担",
    "铢",
    "石",
    "钧",
    "锱",
    "忽",
    "(千|毫|微)克",
    "毫",
    "厘",
    "(公)分",
    "分",
    "寸",
    "尺",
    "丈",
    "里",
    "寻",
    "常",
    "铺",
    "程",
    "(千|分|厘|毫|微)米",
    "米",
    "撮",
    "勺",
    "合",
    "升",
    "斗",
    "石",
    "盘",
    "碗",
    "碟",
    "叠",
    "桶",
    "笼",
    "盆",
    "盒",
    "杯",
    "钟",
    "斛",
    "锅",
    "簋",
    "篮",
    "盘",
    "桶",
    "罐",
    "瓶",
    "壶",
    "卮",
    "盏",
    "箩",
    "箱",
    "煲",
    "啖",
    "袋",
    "钵",
    "年",
    "月",
    "日",
    "季",
    "刻",
    "时",
    "周",
    "天",
    "秒",
    "分",
    "小时",
    "旬",
    "纪",
    "岁",
    "世",
    "更",
    "夜",
    "春",
    "夏",
    "秋",
    "冬",
    "代",
    "伏",
    "辈",
    "丸",
    "泡",
    "粒",
    "颗",
    "幢",
    "堆",
    "条",
    "根",
    "支",
    "道",
    "面",
    "片",
    "张",
    "颗",
    "块",
    "元",
    "(亿|千万|百万|万|千|百)",
    "(亿|千万|百万|万|千|百|美|)元",
    "(亿|千万|百万|万|千|百|十|)吨",
    "(亿|千万|百万|万|千|百|)块",
    "角",
    "毛",
    "分",
]
COM_QUANTIFIERS = "(" + "|".join(_QUANTIFIER_WORDS) + ")"

RE_FRAC = re.compile(r"(-?)(\d+)/(\d+)")
RE_PERCENTAGE = re.compile(r"(-?)(\d+(\.\d+)?)%")
RE_INTEGER = re.compile(r"(-)(\d+)")
RE_DEFAULT_NUM = re.compile(r"\d{3}\d*")
RE_DECIMAL_NUM = re.compile(r"(-?)((\d+)(\.\d+))|(\.(\d+))")
RE_POSITIVE_QUANTIFIERS = re.compile(r"(\d+)([多余几\+])?" + COM_QUANTIFIERS)
RE_NUMBER = re.compile(r"(-?)((\d+)(\.\d+)?)|(\.(\d+))")
RE_VERSION_NUM = re.compile(r"((\d+)(\.\d+)(\.\d+)?(\.\d+)+)")
RE_RANGE = re.compile(
    r"(?<![\d\+\-\×÷=])"  # no digit or operator right before the range
    r"((-?)((\d+)(\.\d+)?))"  # start
    r"[-~]"
    r"((-?)((\d+)(\.\d+)?))"  # end
    r"(?![\d\+\-\×÷=])"
)
_RANGE_UNITS = r"(%|°C|℃|度|摄氏度|cm2|cm²|cm3|cm³|cm|db|ds|kg|km|m2|m²|m³|m3|ml|m|mm|s)"
_NUM = r"((-?)((\d+)(\.\d+)?)|(\.(\d+)))"
RE_TO_RANGE = re.compile(_NUM + _RANGE_UNITS + "[~]" + _NUM + _RANGE_UNITS)

_POWER = "⁰¹²³⁴⁵⁶⁷⁸⁹ˣʸⁿ"
_ASMD_OPERAND = rf"((-?)((\d+)(\.\d+)?[{_POWER}]*)|(\.\d+[{_POWER}]*)|([A-Za-z][{_POWER}]*))"
RE_ASMD = re.compile(_ASMD_OPERAND + r"([\+\-\×÷=])" + _ASMD_OPERAND)
ASMD_WORDS = {"+": "加", "-": "减", "×": "乘", "÷": "除", "=": "等于"}
RE_POWER = re.compile(f"[{_POWER}]+")
_POWER_CHARS = dict(zip(_POWER, "0123456789xyn"))


def replace_frac(m: re.Match) -> str:
    return f"{_sign(m.group(1))}{num2str(m.group(3))}分之{num2str(m.group(2))}"


def replace_percentage(m: re.Match) -> str:
    return f"{_sign(m.group(1))}百分之{num2str(m.group(2))}"


def replace_negative_num(m: re.Match) -> str:
    return _sign(m.group(1)) + num2str(m.group(2))


def replace_default_num(m: re.Match) -> str:
    return verbalize_digit(m.group(0), alt_one=True)


def replace_number(m: re.Match) -> str:
    if m.group(5):  # pure decimal like ".5"
        return num2str(m.group(5))
    return _sign(m.group(1)) + num2str(m.group(2))


def replace_positive_quantifier(m: re.Match) -> str:
    extra = m.group(2) or ""
    if extra == "+":
        extra = "多"
    number = num2str(m.group(1))
    if number == "二":
        number = "两"
    return f"{number}{extra}{m.group(3)}"


def replace_range(m: re.Match) -> str:
    first = RE_NUMBER.sub(replace_number, m.group(1))
    second = RE_NUMBER.sub(replace_number, m.group(6))
    return f"{first}到{second}"


def replace_to_range(m: re.Match) -> str:
    return m.group(0).replace("~", "至")


def replace_asmd(m: re.Match) -> str:
    return m.group(1) + ASMD_WORDS[m.group(8)] + m.group(9)


def replace_power(m: re.Match) -> str:
    return "的" + "".join(_POWER_CHARS[c] for c in m.group(0)) + "次方"


def replace_version_num(m: re.Match) -> str:
    return "".join("点" if c == "." else num2str(c) for c in m.group(1))
