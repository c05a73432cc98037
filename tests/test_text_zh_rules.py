"""Rule-by-rule checks of the Chinese frontend against upstream GPT-SoVITS (48b1a01) behaviour.

Each expected value was worked out by following upstream's own rules by hand (the rule is stated next to the case);
they pin down places where an earlier version of our frontend disagreed with upstream.
"""

from __future__ import annotations

import pytest

from gpt_sovits.text.zh_normalize import text_normalize


# ------------------------------------------------------------------------------------------------ full-width space
def test_ideographic_space_is_not_translated_before_the_number_rules():
    # Upstream's full-width → half-width step keys the U+3000 entry by the character, not its code point, so
    # str.translate ignores it. The date pattern "YYYY<sep>MM<sep>DD" (separator one of "- /.") therefore does not
    # match; 2024 is read digit by digit (4+ digits), 01 → 一 and 15 → 十五 as cardinals, and the U+3000 is deleted
    # with the other symbols at the end.
    assert text_normalize("2024\u300001\u300015") == "二零二四一十五"
    # ASCII spaces are removed before anything else: one 8-digit string, read digit by digit with 1 → 幺
    assert text_normalize("2024 01 15") == "二零二四零幺幺五"
    assert text_normalize("2024/01/15") == "二零二四年一月十五日"


# ------------------------------------------------------------------------------------------------ traditional → simplified
@pytest.mark.parametrize(
    "text, expected",
    [
        # upstream's table maps these differently from OpenCC (later pairs of its table win)
        ("委託", "委讬"),
        ("鍾情", "锺情"),
        ("諮詢", "谘询"),
        ("瀋陽", "渖阳"),
        ("鉅額", "钜额"),
        # upstream maps these variants, OpenCC keeps them
        ("暱稱", "昵称"),
        ("砲彈", "炮弹"),
        ("店舖", "店铺"),
        ("麻痺", "麻痹"),
        # upstream has no entry for these, so they stay as written (OpenCC would simplify them)
        ("特徵", "特徵"),
        ("夥伴", "夥伴"),
        ("閒暇", "閒暇"),
        ("香菸", "香菸"),
        ("祕密", "祕密"),
        ("嘴脣", "嘴脣"),
        ("哪吒", "哪吒"),
        ("摺纸", "摺纸"),
        ("醣类", "醣类"),
        ("酒麴", "酒麴"),
        ("琅琊", "琅玡"),  # upstream maps the simplified-text character 琊 too
        ("橋樑", "桥樑"),
        # ordinary characters both tables agree on
        ("這是一個國家", "这是一个国家"),
        ("榜樣", "榜样"),
    ],
)
def test_traditional_to_simplified_follows_upstreams_table(text, expected):
    assert text_normalize(text) == expected


def test_upstream_table_only_yields_basic_cjk_characters():
    # OpenCC simplifies some rare basic-block characters into extension-B characters (which the final filter would
    # delete); upstream's table has no such pairs and leaves the character as written.
    from gpt_sovits.text.zh_normalize import traditional_to_simplified

    assert traditional_to_simplified("俓") == "俓"
    assert traditional_to_simplified("僤") == "僤"
