"""English frontend, rule by rule, against upstream GPT-SoVITS's own logic (english.py + en_normalization/expend.py).

Each expected value was derived by stepping through upstream's rules by hand (the rule is stated in a comment). They
pin down the odd corners of upstream's regexes (order of substitutions, what each pattern does and does not match),
which the reference table only samples. G2P expectations use upstream's lookup order applied to our dictionary; the
words were chosen so that the rule, not the dictionary version, decides the result.
"""

from __future__ import annotations

import pytest

from gpt_sovits.text import en
from gpt_sovits.text.cleaner import clean_text
from gpt_sovits.text.en_normalize import text_normalize

NORMALISATION_CASES = [
    # "N. " (digits, dot, one space) at a word boundary becomes an ordinal plus ", " before anything else.
    ("Read chapter 3. Then stop.", "Read chapter third, Then stop."),
    # "a OP b" with spaces around + - × ÷ = is rewritten repeatedly until no operator is left.
    ("1 + 2 + 3", "one plus two plus three"),
    # Operands may be single letters; "=" reads as capitalised "Equals" (so no inner-capital split follows).
    ("x = 5", "x Equals five"),
    # After arithmetic, "-N" at the start or after whitespace becomes "negative N" and swallows that whitespace.
    ("-3 + -4 = -7", "negative three plusnegative four Equalsnegative seven"),
    ("It fell to -5 today.", "It fell tonegative five today."),
    # Superscripts are allowed inside operands, then deleted by the character filter.
    ("x² + y² = z²", "x plus y Equals z"),
    # Unit suffixes glued to a number: singular only for the integer 1 without a decimal part ("1.0km" is plural).
    ("I ran 1km, then 1.0km and 2km.", "I ran one kilometer, then one point zero kilometers and two kilometers."),
    ("It took 1h and 1.5h.", "It took one hour and one point five hours."),
    # "s" is the seconds unit, so a decade reads as seconds.
    ("The 1990s.", "The nineteen ninety seconds."),
    # Pounds/dollars: the minor part is right-padded to two digits; zero parts are left out; singular for 1.
    ("£0.05", "five pence"),
    ("$0.01 and $1 and $1.5", "one cent and one dollar and one dollar and fifty cents"),
    ("5$ or 3.50$", "five dollars or three dollars and fifty cents"),
    ("$0", "zero dollars"),
    # More than one dot in an amount: "<amount> dollars" unchanged; the decimal rule then reads the first "x.y" only.
    ("$1.2.3", "one point two.three dollars"),
    # 24-hour times: a.m. below 12, hours above 12 reduced by 12, ":00" → "o'clock"; 24:00 is not a time, so the
    # colon is deleted and both numbers are read as they are.
    (
        "At 13:00, 0:15, 12:30 and 24:00.",
        "At one o'clock p.m. zero fifteen a.m. twelve thirty p.m. and twenty-fourzero.",
    ),
    # Fractions: /2 → half/halves, /1 → the numerator alone, else ordinal denominator (+s when numerator > 1).
    ("2/2, 7/1, 3/4, 1/3", "two halves, seven, three fourths, one third"),
    # Integers 1001..2999 are read like years; 2000, 2001..2009 and whole hundreds have their own wording.
    (
        "In 1905, 2000, 2008, 2010, 2100, 1000, 3000.",
        (
            "In nineteen oh five, two thousand, two thousand eight, twenty ten, twenty-one hundred, one thousand, "
            "three thousand."
        ),
    ),
    # Thousands separators are removed first, so "12,34" becomes the year-like 1234.
    ("1,000,000 and 12,34", "one million and twelve thirty-four"),
    # Ordinal suffixes use inflect's default wording (with "and").
    ("the 21st and 102nd", "the twenty-first and one hundred and second"),
    # Decimal: the fractional digits are read one by one; "\s*" after the dot lets a tab through, which is split
    # off like a digit and later deleted by the character filter (two spaces remain).
    ("3.14", "three point one four"),
    ("1.\t5", "one point  five"),
    ("v2.0.1", "vtwo point zero.one"),
    # Accents are stripped (NFD, drop combining marks).
    ("A café, naïve.", "A cafe, naive."),
    # i.e. / e.g. are expanded case-insensitively, after the character filter.
    ("i.e. yes, E.G. no", "that is yes, for example no"),
    # A space goes before every capital that neither starts the text nor follows whitespace.
    ("My iPhone at McDonald", "My i Phone at Mc Donald"),
    ("Room 4B and 3D", "Room four B and three D"),
    # Every character outside [ A-Za-z'.,?!-] is deleted (the "@" of an e-mail address, "#", "&", "*").
    ("mail test@example.com #1 & *", "mail testexample.com one  "),
    # upstream escapes its punctuation-map keys, so the bracketed groups only match literally: "’", ";", ":", "，"
    # are not mapped but deleted; only "。", "！", "？" are mapped.
    ("don’t", "dont"),
    ("No; yes: maybe", "No yes maybe"),
    ("Hi，ok。Fine！Sure？", "Hiok. Fine! Sure?"),
    # A run of ! ? … , . - after a mark or whitespace keeps only its first character (whitespace counts as the mark).
    ("Wait... what?? No!!", "Wait. what? No!"),
    ("a - - b", "a   b"),
    ("50%", "fifty percent"),
]


@pytest.mark.parametrize("text, expected", NORMALISATION_CASES)
def test_normalisation_rule(text, expected):
    assert text_normalize(text) == expected


G2P_CASES = [
    # A lone capital "A" is EY1; a lone lower-case "a" takes the dictionary's first reading; "I" from the dictionary.
    ("A a I", ["EY1", "AH0", "AY1"]),
    # Unknown words of at most 3 characters are spelled letter by letter, "a" inside them as EY1.
    ("qzx", ["K", "Y", "UW1", "Z", "IY1", "EH1", "K", "S"]),
    ("xa", ["EH1", "K", "S", "EY1"]),
    # Unknown "<word>'s": the stem's phones + S after P T K F TH HH, + AH0 Z after S Z SH ZH CH JH, else + Z.
    ("Bach's", ["B", "AA1", "K", "S"]),
    ("Gaz's", ["G", "AA1", "Z", "AH0", "Z"]),
    ("ab's", ["AE1", "B", "Z"]),
    ("Hugh's laugh's", ["HH", "Y", "UW1", "Z", "L", "AE1", "F", "S"]),
    # A bare apostrophe token becomes "-" (TweetTokenizer splits "dogs'" into "dogs" and "'").
    ("dogs' beds", ["D", "AA1", "G", "Z", "-", "B", "EH1", "D", "Z"]),
    # Words with apostrophes that the dictionary knows are looked up whole.
    ("o'clock", ["AH0", "K", "L", "AA1", "K"]),
]


@pytest.mark.parametrize("text, expected", G2P_CASES)
def test_g2p_rule(text, expected):
    phones, word2ph = en.g2p(text)
    assert phones == expected
    assert word2ph is None


def test_compound_split_reads_each_part_from_the_dictionary():
    # Not in the dictionary, longer than 3 letters, not a possessive → wordsegment splits it, and each part goes
    # through the whole lookup again (dictionary, letter spelling for short unknown parts, ...).
    g2p = en.default_g2p()
    assert "sunflowerish" not in g2p.cmu
    parts = g2p.segmenter.segment("sunflowerish")
    assert len(parts) > 1
    expected = [ph for part in parts for ph in g2p.query_word(part)]
    assert en.g2p("sunflowerish")[0] == expected


def test_possessive_of_an_unknown_compound_uses_the_stem_reading():
    # "glimmerfen's": possessive rule first (the stem ends in N → + Z), the stem itself is a compound.
    stem = en.g2p("glimmerfen")[0]
    assert stem[-1] == "N"
    assert en.g2p("glimmerfen's")[0] == stem + ["Z"]


def test_short_output_gets_a_leading_comma():
    # cleaner: English with fewer than 4 phones is prefixed with ","; 4 or more phones are left alone.
    assert clean_text("Go!", "en").phones == [",", "G", "OW1", "!"]
    assert clean_text("Yes.", "en").phones == ["Y", "EH1", "S", "."]
