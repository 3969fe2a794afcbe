"""Chinese normalization: reference-exact in compat mode, better number readings by default."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from core.text.zh_normalize import PUNCTUATION, normalize_zh, prepare_zh_text
from core.text.zh_numbers import cardinal, decimal, digits, spoken_liang

# The frontend's `clean_special` replaces this sign by a comma before normalizing (then reads it as SP2).
SPECIAL_PAUSE = "￥"


def _zh_segments(conformance_dir: Path) -> list[tuple[str, str, str]]:
    segments = []
    for line in (conformance_dir / "text" / "public.jsonl").read_text(encoding="utf-8").splitlines():
        case = json.loads(line)
        for segment in case.get("segments", []):
            if segment["lang"] == "zh":
                segments.append((case["id"], segment["text"], segment["norm_text"]))
    return segments


def test_compat_mode_matches_reference_on_every_public_zh_segment(conformance_dir: Path) -> None:
    segments = _zh_segments(conformance_dir)
    assert segments, "no zh segments in the public text fixtures"
    wrong = []
    for case_id, text, expected in segments:
        got = normalize_zh(text.replace(SPECIAL_PAUSE, ","), reference_compat=True)
        if got != expected:
            wrong.append(f"{case_id} {text!r}: expected {expected!r}, got {got!r}")
    print(f"\nzh normalization, compat mode: {len(segments) - len(wrong)}/{len(segments)} segments exact")
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("reference_compat", [True, False])
def test_output_has_only_ideographs_and_single_punctuation(reference_compat: bool) -> None:
    texts = [
        "“你好！！”他说……😀",
        "《红楼梦》（第1回）——很好？！",
        "Ｈｅｌｌｏ，世界 ２０２４。",
        "α+β=γ ①②",
        "\n\n",
    ]
    for text in texts:
        out = normalize_zh(text, reference_compat=reference_compat)
        assert re.fullmatch(r"[\u4e00-\u9fa5" + re.escape(PUNCTUATION) + r"]*", out), out
        assert not re.search(f"[{re.escape(PUNCTUATION)}]{{2}}", out), out


def test_reference_reads_every_temperature_unit_as_du() -> None:
    # The reference checks the wrong regex group for 摄氏度, so its unit is always 度.
    assert normalize_zh("气温-3摄氏度", reference_compat=True) == "气温零下三度"
    assert normalize_zh("气温-3摄氏度") == "气温零下三摄氏度"


def test_number_words() -> None:
    assert cardinal("0") == "零" and cardinal("") == ""
    assert cardinal("10") == "十" and cardinal("110") == "一百一十" and cardinal("100000") == "十万"
    assert cardinal("10010") == "一万零一十" and cardinal("1000010") == "一百万零一十"
    assert cardinal("1411750000") == "十四亿一千一百七十五万"
    assert (
        decimal("3.20") == "三点二零" and decimal(".5") == "零点五" and decimal("3.14159") == "三点一四一五九"
    )
    assert digits("110", phone_one=True) == "幺幺零" and digits("2024") == "二零二四"
    assert spoken_liang("二") == "两" and spoken_liang("一万二千") == "一万两千"
    assert spoken_liang("二百") == "两百" and spoken_liang("二百", leading_hundred=False) == "二百"
    assert spoken_liang("二十二") == "二十二" and spoken_liang("二点五") == "二点五"


def test_traditional_characters_are_simplified_in_both_modes() -> None:
    for compat in (True, False):
        assert normalize_zh("我們說國語。", reference_compat=compat) == "我们说国语."


@pytest.mark.parametrize(
    ("text", "reference", "timbre"),
    [
        ("每天喝2-3杯水", "每天喝二减三杯水", "每天喝两到三杯水"),
        ("气温在18~26度", "气温在十八…二十六度", "气温在十八到二十六度"),
        ("零下-5~3℃", "零下负五…三度", "零下零下五到三度"),
        ("增幅10%-20%", "增幅百分之十负百分之二十", "增幅百分之十到百分之二十"),
        ("1990-1995年", "幺九九零减一九九五年", "一九九零到一九九五年"),
        ("需要1到2天", "需要一到两天", "需要一到两天"),
    ],
)
def test_ranges_read_to_not_minus(text: str, reference: str, timbre: str) -> None:
    assert normalize_zh(text, reference_compat=True) == reference
    assert normalize_zh(text) == timbre


def test_arithmetic_is_still_arithmetic() -> None:
    assert normalize_zh("5-3=2") == "五减三等于二"
    assert normalize_zh("1+2-3=0") == "一加二减三等于零"


@pytest.mark.parametrize(
    ("text", "timbre"),
    [
        ("这个镇有23456人", "这个镇有两万三千四百五十六人"),
        ("2的10次方是1024", "二的十次方是一千零二十四"),
        ("数字是9876", "数字是九千八百七十六"),
        ("我的房间号是1208", "我的房间号是幺二零八"),
        ("验证码：3721", "验证码,三七二幺"),
        ("报警请拨110", "报警请拨幺幺零"),
        ("乘G1234次列车", "乘幺二三四次列车"),
        ("坐307路公交车", "坐三零七路公交车"),
        ("编号0078", "编号零零七八"),
        ("请拨打0755-87654321", "请拨打零七五五,八七六五四三二幺"),
        ("手机13912345678", "手机幺三九幺二三四五六七八"),
        ("热线400-800-1234", "热线四零零,八零零,幺二三四"),
        ("约有87654321人", "约有八千七百六十五万四千三百二十一人"),
        ("总数是1,234,567", "总数是一百二十三万四千五百六十七"),
    ],
)
def test_cardinals_versus_codes(text: str, timbre: str) -> None:
    assert normalize_zh(text) == timbre


def test_reference_reads_long_numbers_digit_by_digit() -> None:
    assert normalize_zh("数字是9876", reference_compat=True) == "数字是九八七六"
    assert normalize_zh("约有87654321人", reference_compat=True) == "约有八七六五四三二幺人"
    assert normalize_zh("总数是1,234,567", reference_compat=True) == "总数是一,二三四,五六七"


@pytest.mark.parametrize(
    ("text", "timbre"),
    [
        ("买了2000个", "买了两千个"),
        ("花了2万元", "花了两万元"),
        ("走了2公里", "走了两公里"),
        ("下午2点见", "下午两点见"),
        ("下午2:30见", "下午两点半见"),
        ("第2000名", "第二千名"),
        ("第2次", "第二次"),
        ("2月2日", "二月二日"),
        ("住在2楼", "住在二楼"),
        ("读2年级", "读二年级"),
        ("2的平方", "二的平方"),
        ("长2.5米", "长二点五米"),
    ],
)
def test_spoken_liang_only_for_counts(text: str, timbre: str) -> None:
    assert normalize_zh(text) == timbre


@pytest.mark.parametrize(
    ("text", "timbre"),
    [
        ("咖啡¥18.5", "咖啡十八点五元"),
        ("门票￥80", "门票八十元"),
        ("欠我$50", "欠我五十美元"),
        ("罚款€200", "罚款两百欧元"),
        ("花了$5万", "花了五万美元"),
        ("跑了42km", "跑了四十二公里"),
        ("重3.5kg", "重三点五千克"),
        ("身高180cm", "身高一百八十厘米"),
        ("面积95m²", "面积九十五平方米"),
        ("时速120km/h", "时速一百二十公里每小时"),
        ("容量500ml", "容量五百毫升"),
        ("找零1.50元", "找零一点五元"),
        ("等了30min", "等了三十分钟"),
        ("体温37.5°C", "体温三十七点五度"),
        ("气温-3℃", "气温零下三度"),
        ("今天98°F", "今天华氏九十八度"),
    ],
)
def test_currency_and_units_become_words(text: str, timbre: str) -> None:
    assert normalize_zh(text) == timbre


@pytest.mark.parametrize(
    ("text", "reference", "timbre"),
    [
        ("他工作了10年", "他工作了一零年", "他工作了十年"),
        ("20年前", "二零年前", "二十年前"),
        ("我98年毕业", "我九八年毕业", "我九八年毕业"),
        ("2008年8月8日", "二零零八年八月八日", "二零零八年八月八日"),
        ("公元前221年", "公元前二二一年", "公元前二二一年"),
        ("建校100年", "建校一零零年", "建校一百年"),
        ("2月14日", "两月十四日", "二月十四日"),
        ("2024-05", "二零二四减五", "二零二四年五月"),
        ("二〇二四年", "二二四年", "二零二四年"),
        ("比分是3:2", "比分是三二", "比分是三比二"),
        ("比分是21:19", "比分是二十一点十九分", "比分是二十一比十九"),
        ("8:30-12:30", "八点半至十二点半", "八点半至十二点半"),
        ("五千年文明始于5000年前", "五千年文明始于五零零零年前", "五千年文明始于五千年前"),
        ("他是90后", "他是九十后", "他是九零后"),
        ("2023-2024学年", "二零二三减二零二四学年", "二零二三到二零二四学年"),
        ("2024/1/1", "一分之二千零二十四每一", "二零二四年一月一日"),
        ("用时1:30:25", "用时一点半二十五秒", "用时一点三十分二十五秒"),
        ("9:30-11:15", "九点半至十一点半", "九点半至十一点十五分"),
    ],
)
def test_dates_times_and_scores(text: str, reference: str, timbre: str) -> None:
    assert normalize_zh(text, reference_compat=True) == reference
    assert normalize_zh(text) == timbre


def test_default_keeps_readings_the_reference_gets_right() -> None:
    for text in [
        "我买了2个苹果。",
        "圆周率约等于3.14159。",
        "今天最低气温是-5度。",
        "增长率达到了15%。",
        "会议定在2024-05-01举行。",
        "我们12:30在门口见。",
        "大约有1/3的学生。",
        "版本号是1.2.3。",
        "他跑了100米，用时9.58秒。",
        "我的电话号码是13812345678。",
        "报警电话是110。",
        "这座山高8848米。",
        "账户余额变成了-200元。",
        "明天北京气温-3℃到5℃。",
    ]:
        assert normalize_zh(text) == normalize_zh(text, reference_compat=True), text


@pytest.mark.parametrize(
    ("text", "prepared"),
    [
        ("我跑了5km，花了$20。", "我跑了5公里，花了20美元。"),
        ("这本书￥45", "这本书45元"),
        ("气温-3℃到5°C", "气温-3度到5度"),
        ("人口1,234,567", "人口1234567"),
        ("大约2/3的人", "大约三分之二的人"),
        ("二〇二四年", "二零二四年"),
        ("I ran 5km today.", "I ran 5km today."),
        ("我买了iPhone 5s", "我买了iPhone 5s"),
        ("It costs $20.", "It costs $20."),
        ("2023/12/31之前", "2023/12/31之前"),
    ],
)
def test_prepare_rewrites_number_symbols_next_to_chinese_only(text: str, prepared: str) -> None:
    assert prepare_zh_text(text) == prepared


@pytest.mark.parametrize(
    ("text", "lang", "spoken"),
    [
        ("2024/5/1", "zh", "二零二四年五月一日"),  # was 两千零二十四 + English
        ("他生于1990/12/25", "zh", "他生于一九九零年十二月二十五日"),
        ("-5℃", "zh", "零下五度"),  # lost its sign in the English path
        ("气温-5℃到3℃", "zh", "气温零下五度到三度"),  # the language detector dropped the sign after 温
        ("温度从-5度升到3度", "auto", "温度从零下五度升到三度"),
        ("最低温度－3℃", "zh", "最低温度零下三度"),  # a full-width minus
        ("华氏98.6℉", "zh", "华氏九十八点六度"),
        ("2024年6月18日-20日", "zh", "二零二四年六月十八日到二十日"),  # a date range, not minus 20
        ("10>7", "zh", "十大于七"),  # was an inline-reading error
        ("我们知道3<8", "zh", "我们知道三小于八"),
        ("2×3=6", "zh", "二乘三等于六"),  # was English words
        ("6÷2=3", "all_zh", "六除以二等于三"),
        ("x≤5", "zh", "x小于等于五"),  # ≤ was dropped; the letter stays English
        ("已知y≥0", "auto", "已知y大于等于零"),
        ("误差为±0.5毫米", "zh", "误差为正负零点五毫米"),
        ("这块地有200㎡", "zh", "这块地有两百平方米"),
    ],
)
def test_digits_and_signs_in_chinese_text_are_read_in_chinese(text: str, lang: str, spoken: str) -> None:
    from core.text import text_to_phones

    result = text_to_phones(text, lang)
    assert result.norm_text == spoken
    letters = [s.norm_text for s in result.segments if s.lang == "en"]
    assert all(re.fullmatch(r"[A-Za-z]+", t.strip()) for t in letters), letters


def test_english_text_keeps_its_numbers_in_auto_mode() -> None:
    from core.text import text_to_phones

    # No Chinese character: the English path reads the numbers (and `>` is a comparison, not markup).
    result = text_to_phones("I have 2 dogs, 10>7.", "auto")
    assert [s.lang for s in result.segments] == ["en"]
    assert result.norm_text.startswith("I have two dogs, ten")


@pytest.mark.parametrize(
    ("text", "spoken", "english"),
    [
        ("5G网络", "五G网络", ["G"]),
        ("PM2.5超标", "P M二点五超标", ["P M"]),
        ("我用的是Windows 11系统", "我用的是Windows 十一系统", ["Windows "]),
        ("100元/月", "一百元每月", []),
        ("他说I have 2 dogs", "他说I have two dogs", ["I have two dogs"]),  # an English sentence
        ("他的显卡是RTX 4090", "他的显卡是R T X four thousand ninety", ["R T X four thousand ninety"]),
    ],
)
def test_numbers_naming_things_in_chinese_text_are_read_in_chinese(
    text: str, spoken: str, english: list[str]
) -> None:
    from core.text import text_to_phones

    result = text_to_phones(text, "zh")
    assert result.norm_text == spoken
    assert [s.norm_text for s in result.segments if s.lang == "en"] == english


@pytest.mark.parametrize(
    ("text", "spoken"),
    [
        # a slash month/day is a date with a leading zero, date words around it, or a denominator of 1
        ("截止日期是12/31", "截止日期是十二月三十一日"),
        ("请在03/15前提交", "请在三月十五日前提交"),
        ("10/1放假", "十月一日放假"),
        ("他吃了蛋糕的3/4", "他吃了蛋糕的四分之三"),
        ("结果是7/4", "结果是四分之七"),
        ("会议2024/3/5 10:30开始", "会议二零二四年三月五日十点半开始"),  # the space does not join 5 and 10
        # permille and per ten thousand
        ("出生率约为8‰", "出生率约为千分之八"),
        ("误差为3‱", "误差为万分之三"),
        # negative decimals, and 零下 said once
        ("答案是-1.5", "答案是负一点五"),
        ("x的值是-0.5", "x的值是负零点五"),
        ("零下-5℃", "零下五度"),
        # a comparison sign between two letters, roots, powers of letters
        ("所以a≤b", "所以a小于等于b"),
        ("计算√4=2", "计算根号四等于二"),
        ("答对了√", "答对了"),  # a check mark
        ("圆的方程x²+y²=1", "圆的方程x的二次方加y的二次方等于一"),
        ("均价3万元/m²", "均价三万元每平方米"),
    ],
)
def test_dates_fractions_signs_and_negatives_in_context(text: str, spoken: str) -> None:
    from core.text import text_to_phones

    assert text_to_phones(text, "zh").norm_text == spoken


@pytest.mark.parametrize(
    ("text", "spoken"),
    [
        # phone and service numbers, rooms, letter-prefixed codes
        ("请联系138-1234-5678", "请联系幺三八,幺二三四,五六七八"),
        ("号码是+86-138-1234-5678", "号码是八六,幺三八,幺二三四,五六七八"),
        ("有人受伤快打120", "有人受伤快打幺二零"),
        ("一天打3000字", "一天打三千字"),  # not the shape of a service number
        ("查号台114", "查号台幺幺四"),
        ("10086客服", "幺零零八六客服"),
        ("5栋1单元301", "五栋一单元三零幺"),
        ("A座1803", "A座幺八零三"),
        ("他坐G1234次列车", "他坐G幺二三四次列车"),
        ("车牌号京A12345", "车牌号京A幺二三四五"),
        ("手机内存有256GB", "手机内存有二百五十六G B"),  # 手机 alone is not a code word (手机号 is)
        # 单元 is not a measure word; 2两 is a weight
        ("他住在3号楼2单元", "他住在三号楼二单元"),
        ("打了2两酒", "打了二两酒"),
        # units, ranges with a scale, year spans and model years, race times
        ("重达1.5t", "重达一点五吨"),
        ("气压1013hPa", "气压一千零一十三百帕"),
        ("价格10万-20万元", "价格十万到二十万元"),
        ("2023-2024赛季", "二零二三到二零二四赛季"),
        ("价格在1999~2099元", "价格在一千九百九十九到两千零九十九元"),
        ("我的车是2018款的", "我的车是二零一八款的"),
        ("2000款游戏", "两千款游戏"),
        ("他以9秒83的成绩夺冠", "他以九秒八三的成绩夺冠"),
        ("1秒10个", "一秒十个"),
    ],
)
def test_codes_units_and_years_in_context(text: str, spoken: str) -> None:
    from core.text import text_to_phones

    assert text_to_phones(text, "zh").norm_text == spoken


@pytest.mark.parametrize(
    ("text", "reference", "timbre"),
    [
        ("138-1234-5678", "幺三八减幺二三四减五六七八", "幺三八,幺二三四,五六七八"),
        ("-0.5", "负零零点五", "负零点五"),
        ("8‰", "八", "千分之八"),
        ("12/31前", "三十一分之十二前", "十二月三十一日前"),
        ("零下-5度", "零下零下五度", "零下五度"),
    ],
)
def test_new_default_rules_leave_the_reference_reading_alone(text: str, reference: str, timbre: str) -> None:
    assert normalize_zh(text, reference_compat=True) == reference
    assert normalize_zh(text) == timbre
