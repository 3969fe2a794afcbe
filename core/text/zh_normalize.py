"""Chinese text normalization: numbers, dates, units and symbols written out as Chinese characters.

`normalize_zh(text)` turns one Chinese segment into what the G2P reads: only CJK ideographs
(U+4E00-U+9FA5) and the punctuation phones `! ? … , . -` remain, with every run of punctuation
collapsed to its first mark.

Two behaviours, each an ordered list of shared rewrite steps (`REFERENCE_STEPS`, `TIMBRE_STEPS`):

* `reference_compat=True` reproduces GPT-SoVITS v2's `chinese2.text_normalize` exactly (PaddleSpeech's
  `zh_normalization.TextNormalizer` per sentence, then its punctuation map and clean-up), misreadings
  included: `3-5杯` -> 三减五杯, `20~25度` -> 二十…二十五度, `1,234,567` -> 一,二三四,五六七, every
  3+-digit number without a measure word read digit by digit with 幺 (`1024` -> 幺零二四), `2000元`
  -> 二千元, `¥12.5` -> 十二点五, `$20` -> a pause, `〇` dropped.
* the default fixes those in general rules: ranges (`3-5杯` -> 三到五杯, `20~25度` -> 二十到二十五度,
  `2020-2024年` -> 二零二零到二零二四年), plain numbers as cardinals and only codes digit by digit
  (phone numbers, numbers after 电话/号码/房间号/密码/..., leading zeros, `101路`), the spoken 两
  (`2000元` -> 两千元, `下午2点` -> 两点, `2到3天` -> 两到三天), thousands separators, currency signs
  (`¥12.5` -> 十二点五元, `$20` -> 二十美元), Latin units after numbers (`25km` -> 二十五公里, `120km/h` ->
  一百二十公里每小时, `50kg` -> 五十千克, `120m²` -> 一百二十平方米), months (`2月` -> 二月, not 两月),
  durations (`10年前` -> 十年前, not 一零年前), scores and ratios (`3:2` -> 三比二),
  `9:00-11:30` -> 九点至十一点半, `二〇二四` -> 二零二四, comparison and arithmetic signs (`10>7` ->
  十大于七, `x≤5` -> x小于等于五, `6÷2` -> 六除以二, `±0.5` -> 正负零点五), unit signs (`200㎡`),
  `8‰` -> 千分之八, `-0.5` -> 负零点五, slash dates in a date context (`截止日期是12/31`, `10/1放假`),
  grouped mobile numbers (`138-1234-5678`), year spans and model years (`2023-2024赛季`, `2018款`).

Frontend contract (default mode only): the language splitter cuts Latin units, currency signs, `℃`,
`/` and `〇` away from the Chinese text before `normalize_zh` ever sees them, so call
`prepare_zh_text(text)` on the whole input first (every language code except `en`) — before language
segmentation and before the `￥`/`^` special cleaning — then segment and normalize as usual. It rewrites
only number-attached symbols next to Chinese text (`25km` -> `25公里`, `¥12.5` / `￥12.5` -> `12.5元`,
`$20` -> `20美元`, `-3℃` -> `-3度`, `1,234` -> `1234`, `2/3` -> `三分之二`, `二〇二四` -> `二零二四`) and
leaves English text alone (`I ran 5km`); also `8‰` -> `千分之8`, `x²` -> `x的2次方`, `K1234次` ->
`K幺二三四次`. In `reference_compat` mode do not call it. The frontend then gives
the Chinese normalizer every digit and sign of Chinese text the splitter labelled English
(`frontend._numbers_stay_chinese`).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable
from pathlib import Path

from core.text.zh_numbers import cardinal, decimal, digits, spoken_liang

# ---------------------------------------------------------------------------------------------------
# Character tables
# ---------------------------------------------------------------------------------------------------

PUNCTUATION = "!?…,.-"
"""Punctuation marks that survive normalization (each becomes one phone)."""

_T2S_TABLE_PATH = Path(__file__).with_name("data") / "zh_traditional_to_simplified.txt"


@functools.lru_cache(maxsize=2)
def traditional_to_simplified_table(compat: bool) -> dict[int, str]:
    """`str.translate` table from the data file (one `<traditional> <simplified>` pair per line).

    The reference's table also "simplifies" some characters that are standard simplified already
    (榜 → 搒, read bang4); outside compat mode a pair is kept only when OpenCC agrees the character
    is traditional.
    """
    if compat:
        keep = lambda char: True  # noqa: E731
    else:
        import opencc  # deferred: only the default mode needs it

        to_simplified = opencc.OpenCC("t2s")
        keep = lambda char: to_simplified.convert(char) != char  # noqa: E731
    table: dict[int, str] = {}
    for line in _T2S_TABLE_PATH.read_text(encoding="utf-8").splitlines():
        if not line or line.startswith("#"):
            continue
        traditional, simplified = line.split(" ")
        if keep(traditional):
            table[ord(traditional)] = simplified
    return table


# Full-width ASCII letters and digits -> half-width (U+FF21.. / U+FF10..), ideographic space -> space.
_FULLWIDTH_TO_HALFWIDTH = {
    **{ord(ch) + 0xFEE0: ch for ch in "0123456789"},
    **{ord(ch) + 0xFEE0: ch for ch in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"},
    0x3000: " ",
}

# Characters the sentence splitter drops (before the split) and the post-pass drops (after numbers).
_DROP_BEFORE_SPLIT = re.compile(r"[—《》【】<>{}()（）#&@“”^_|\\]")
_DROP_AFTER_NUMBERS = re.compile(r"[\-—《》【】<=>{}()（）#&@“”^_|\\]")
_SENTENCE_END = re.compile(r"([：、，；。？！,;?!][”’]?)")

_CIRCLED_AND_SYMBOL_WORDS: tuple[tuple[str, str], ...] = (
    ("/", "每"),
    ("①", "一"), ("②", "二"), ("③", "三"), ("④", "四"), ("⑤", "五"),
    ("⑥", "六"), ("⑦", "七"), ("⑧", "八"), ("⑨", "九"), ("⑩", "十"),
    ("α", "阿尔法"), ("β", "贝塔"), ("γ", "伽玛"), ("Γ", "伽玛"), ("δ", "德尔塔"), ("Δ", "德尔塔"),
    ("ε", "艾普西龙"), ("ζ", "捷塔"), ("η", "依塔"), ("θ", "西塔"), ("Θ", "西塔"), ("ι", "艾欧塔"),
    ("κ", "喀帕"), ("λ", "拉姆达"), ("Λ", "拉姆达"), ("μ", "缪"), ("ν", "拗"), ("ξ", "克西"),
    ("Ξ", "克西"), ("ο", "欧米克伦"), ("π", "派"), ("Π", "派"), ("ρ", "肉"), ("ς", "西格玛"),
    ("Σ", "西格玛"), ("σ", "西格玛"), ("τ", "套"), ("υ", "宇普西龙"), ("φ", "服艾"), ("Φ", "服艾"),
    ("χ", "器"), ("ψ", "普赛"), ("Ψ", "普赛"), ("ω", "欧米伽"), ("Ω", "欧米伽"),
    ("+", "加"), ("-", "减"), ("×", "乘"), ("÷", "除"), ("=", "等"),
)  # fmt: skip

# Punctuation map applied after the numbers (order matters only for the 3-character "...").
_PUNCTUATION_MAP: dict[str, str] = {
    "：": ",", "；": ",", "，": ",", "。": ".", "！": "!", "？": "?", "\n": ".", "·": ",", "、": ",",
    "...": "…", "$": ".", "/": ",", "—": "-", "~": "…", "～": "…",
}  # fmt: skip
_PUNCTUATION_PATTERN = re.compile("|".join(re.escape(key) for key in _PUNCTUATION_MAP))
_NOT_KEPT = re.compile(r"[^\u4e00-\u9fa5" + re.escape(PUNCTUATION) + r"]+")
_REPEATED_PUNCTUATION = re.compile(f"([{re.escape(PUNCTUATION)}])([{re.escape(PUNCTUATION)}])+")

# Latin unit symbols the reference replaces anywhere in a sentence (in this order).
_REFERENCE_MEASURES: tuple[tuple[str, str], ...] = (
    ("cm2", "平方厘米"), ("cm²", "平方厘米"), ("cm3", "立方厘米"), ("cm³", "立方厘米"), ("cm", "厘米"),
    ("db", "分贝"), ("ds", "毫秒"), ("kg", "千克"), ("km", "千米"), ("m2", "平方米"), ("m²", "平方米"),
    ("m³", "立方米"), ("m3", "立方米"), ("ml", "毫升"), ("m", "米"), ("mm", "毫米"), ("s", "秒"),
)  # fmt: skip

# Latin units after a number, as Timbre reads them (default mode); longest symbols are tried first.
_UNIT_WORDS: dict[str, str] = {
    "km/h": "公里每小时", "m/s": "米每秒", "mph": "英里每小时",
    "km²": "平方公里", "m²": "平方米", "cm²": "平方厘米", "mm²": "平方毫米",
    "㎢": "平方公里", "㎡": "平方米", "㎥": "立方米", "㎞": "公里", "㎝": "厘米", "㎜": "毫米",
    "㎏": "千克", "㎎": "毫克", "㎖": "毫升",
    "km³": "立方千米", "m³": "立方米", "cm³": "立方厘米",
    "km": "公里", "cm": "厘米", "mm": "毫米", "μm": "微米", "nm": "纳米", "m": "米",
    "kg": "千克", "mg": "毫克", "g": "克", "lb": "磅", "lbs": "磅",
    "ml": "毫升", "mL": "毫升", "L": "升",
    "hPa": "百帕", "kPa": "千帕", "MPa": "兆帕", "Pa": "帕",
    "kcal": "千卡", "mAh": "毫安时", "kWh": "千瓦时", "kW": "千瓦", "W": "瓦", "V": "伏",
    "Hz": "赫兹", "kHz": "千赫兹", "MHz": "兆赫兹", "GHz": "吉赫兹", "dB": "分贝", "db": "分贝",
    "h": "小时", "min": "分钟", "ms": "毫秒", "s": "秒", "t": "吨",
}  # fmt: skip

# Measure words after which the reference says 两 for 2 (PaddleSpeech's list, as data).
_REFERENCE_MEASURE_WORDS: tuple[str, ...] = tuple(
    "处 台 架 枚 趟 幅 平 方 堵 间 床 株 批 项 例 列 "
    "篇 栋 注 亩 封 艘 把 目 套 段 人 所 朵 匹 张 座 "
    "回 场 尾 条 个 首 阙 阵 网 炮 顶 丘 棵 只 支 袭 "
    "辆 挑 担 颗 壳 窠 曲 墙 群 腔 砣 客 贯 扎 捆 刀 "
    "令 打 手 罗 坡 山 岭 江 溪 钟 队 单 双 对 出 口 "
    "头 脚 板 跳 枝 件 贴 针 线 管 名 位 身 堂 课 本 "
    "页 家 户 层 丝 毫 厘 分 钱 两 斤 铢 石 钧 锱 忽 "
    "千克 毫克 微克 公分 寸 尺 丈 里 寻 常 铺 程 千米 分米 厘米 毫米 "
    "微米 米 撮 勺 合 升 斗 盘 碗 碟 叠 桶 笼 盆 盒 杯 "
    "斛 锅 簋 篮 罐 瓶 壶 卮 盏 箩 箱 煲 啖 袋 钵 年 "
    "月 日 季 刻 时 周 天 秒 小时 旬 纪 岁 世 更 夜 春 "
    "夏 秋 冬 代 伏 辈 丸 泡 粒 幢 堆 根 道 面 片 块 "
    "元 亿 千万 百万 万 千 百 美元 十吨 吨 角 毛".split()
)
# More measure words Timbre reads with 两 (default mode only).
_EXTRA_MEASURE_WORDS: tuple[str, ...] = tuple(
    "公里 公斤 克 毫升 平方米 平方公里 立方米 倍 次 遍 种 份 "
    "节 部 届 样 成 分钟 秒钟 毫秒 星期 周岁 千瓦 瓦 "
    "伏 赫兹 千卡 卡 英里 英尺 磅 欧元 英镑 日元 港元 港币 "
    "美金 集 章 款 下 句 点 点钟 声 圈 步 轮 "
    "局 盘 拨 组 瓶 包 排 行 幅 副 双 台 "
    "座 届 期 番 厅 卫 米 毫米 厘米".split()
)
_NOT_A_MEASURE_AFTER = ("年级", "次方", "单元")  # 2单元: unit number two, 二单元

# ---------------------------------------------------------------------------------------------------
# Dates and times
# ---------------------------------------------------------------------------------------------------

_DATE = re.compile(r"(\d{4}|\d{2})年((0?[1-9]|1[0-2])月)?(((0?[1-9])|((1|2)[0-9])|30|31)([日号]))?")
_DATE_NUMERIC = re.compile(r"(\d{4})([- /.])(0[1-9]|1[012])\2(0[1-9]|[12][0-9]|3[01])")
_LOOSE_DATE = r"(?<![\d.])(\d{4})([-/.])(0?[1-9]|1[0-2])\2(0?[1-9]|[12][0-9]|3[01])"
_DATE_NUMERIC_LOOSE = re.compile(_LOOSE_DATE + r"(?![\d./\-])")  # default mode: 2024/1/1
# A date with a time after a space (2024/3/5 10:30) is written out before spaces are dropped, which would
# join the day to the hour.
_DATE_BEFORE_TIME = re.compile(_LOOSE_DATE + r"(?=\s+\d{1,2}:\d\d)")
_YEAR_MONTH_NUMERIC = re.compile(r"(?<![\d.])(\d{4})[-/](0[1-9]|1[012])(?![\d./\-])")
_TIME = re.compile(r"([0-1]?[0-9]|2[0-3]):([0-5][0-9])(:([0-5][0-9]))?")
_TIME_RANGE = re.compile(
    r"([0-1]?[0-9]|2[0-3]):([0-5][0-9])(:([0-5][0-9]))?(~|-)([0-1]?[0-9]|2[0-3]):([0-5][0-9])(:([0-5][0-9]))?"
)
_MONTH_DAY = re.compile(r"(?<![\d.])(0?[1-9]|1[0-2])月(?:(0?[1-9]|[12][0-9]|3[01])([日号]))?")
_RATIO = re.compile(r"(?<![\d:.])(\d+):(\d+)(?![\d:])")
_RATIO_WORDS = ("比分", "比例", "比率", "比值", "比数", "赔率")

# Words around a number + 年 that make it a length of time rather than a calendar year (default mode).
_DURATION_BEFORE = (
    "了", "过", "近", "约", "满", "花", "用", "达", "这", "那", "几", "每", "共", "整", "足", "再", "有",
    "历时", "长达", "经过", "持续", "将近", "大约", "超过", "不到", "不足", "至少", "最多", "第",
)  # fmt: skip
_DURATION_AFTER = (
    "前", "后", "来", "以来", "内", "里", "间", "中", "多", "半", "左右", "以上", "以下", "以内", "之内",
    "之后", "之前", "之间", "了", "的时间", "时间", "期间",
)  # fmt: skip


def _date_words(match: re.Match[str], *, compat: bool) -> str:
    year, month, day, day_mark = match.group(1), match.group(3), match.group(5), match.group(9)
    if not compat:
        start = match.start()
        before = match.string[max(0, start - 4) : start]
        after = match.string[match.end(1) + 1 :]
        if start > 0 and match.string[start - 1].isdigit():
            return match.group(0)  # part of a longer number: handled by the wider year rule
        if month is None and after.startswith("级"):
            return cardinal(year) + "年"  # a school grade: 十二年级
        if month is None and _is_duration(year, before, after):
            return spoken_liang(cardinal(year)) + "年"
    out = digits(year) + "年"
    if month:
        out += cardinal(month) + "月"
    if day:
        out += cardinal(day) + day_mark
    return out


def _is_duration(number: str, before: str, after: str) -> bool:
    """Whether `<number>年` is a length of time (十年前) rather than a year (九八年), from nearby words."""
    if any(before.endswith(word) for word in _DURATION_BEFORE):
        return True
    if len(number) == 4:
        return False
    return any(after.startswith(word) for word in _DURATION_AFTER)


_YEAR_WORDS = ("学年", "年度", "财年", "年")
_YEAR_ANY_LENGTH = re.compile(r"(?<![\d.])(\d{3,4})(学年|年度|财年|年)(?!级)")


def _long_year_words(match: re.Match[str]) -> str:
    """Default mode: 3- and 4-digit years (`221年` -> 二二一年) unless they are durations (`100年`)."""
    number = match.group(1)
    start = match.start()
    before = match.string[max(0, start - 4) : start]
    after = match.string[match.end() :]
    is_round_hundred = len(number) == 3 and number.endswith("00")
    # 3000年, 5000年 are spans (五千年); 2000年 and 1000-2199 otherwise are calendar years
    is_round_thousand = len(number) == 4 and number.endswith("000") and number != "2000"
    too_late = len(number) == 4 and int(number) > 2199
    if is_round_hundred or is_round_thousand or too_late or _is_duration(number, before, after):
        return spoken_liang(cardinal(number)) + match.group(2)
    return digits(number) + match.group(2)


def _hundredths_words(match: re.Match[str]) -> str:
    if _followed_by_measure().match(match.string, match.end()):
        return match.group(0)  # 1秒10个: a count
    return digits(match.group(1))


def _year_span_words(match: re.Match[str]) -> str:
    start, link, end = match.groups()
    if int(end) <= int(start) or _followed_by_measure().match(match.string, match.end()):
        return match.group(0)  # 2000-1500, 1900-2000米: numbers
    return digits(start) + (link if link in "到至" else "到") + digits(end)


def _numeric_date_words(match: re.Match[str]) -> str:
    return f"{digits(match.group(1))}年{cardinal(match.group(3))}月{cardinal(match.group(4))}日"


def _year_month_words(match: re.Match[str]) -> str:
    return f"{digits(match.group(1))}年{cardinal(match.group(2))}月"


def _month_day_words(match: re.Match[str]) -> str:
    out = cardinal(match.group(1)) + "月"
    if match.group(2):
        out += cardinal(match.group(2)) + match.group(3)
    return out


def _clock_part(number: str) -> str:
    """Minutes and seconds: `05` -> 零五, `45` -> 四十五."""
    words = decimal(number.lstrip("0"))
    return "零" + words if number.startswith("0") else words


def _clock_words(hour: str, minute: str, second: str | None, *, half_from: str, compat: bool) -> str:
    hour_words = decimal(hour)
    if not compat and hour_words == "二":
        hour_words = "两"
    out = hour_words + "点"
    if minute.lstrip("0"):
        # 半 for :30, except (default mode) when seconds follow: 一点三十分二十五秒
        use_half = int(half_from) == 30 and (compat or not (second and second.lstrip("0")))
        out += "半" if use_half else _clock_part(minute) + "分"
    if second and second.lstrip("0"):
        out += _clock_part(second) + "秒"
    return out


def _time_words(match: re.Match[str], *, compat: bool) -> str:
    if not compat and _looks_like_ratio(match):
        return _ratio_words(match)
    groups = match.groups()
    out = _clock_words(groups[0], groups[1], groups[3], half_from=groups[1], compat=compat)
    if len(groups) > 5:  # a range such as 8:30-12:30
        # The reference tests the first minute for 半 in the second time too; Timbre tests its own.
        half_from = groups[1] if compat else groups[6]
        out += "至" + _clock_words(groups[5], groups[6], groups[8], half_from=half_from, compat=compat)
    return out


def _looks_like_ratio(match: re.Match[str]) -> bool:
    before = match.string[max(0, match.start() - 6) : match.start()]
    return any(word in before for word in _RATIO_WORDS)


def _ratio_words(match: re.Match[str]) -> str:
    sides = re.split(r"[:~\-]", match.group(0))
    if len(sides) != 2:  # a range of two scores is unusual; read the numbers one after the other
        return "比".join(cardinal(side) for side in sides if side)
    return f"{cardinal(sides[0])}比{cardinal(sides[1])}"


# ---------------------------------------------------------------------------------------------------
# Numbers
# ---------------------------------------------------------------------------------------------------

_FRACTION = re.compile(r"(-?)(\d+)/(\d+)")
_PERCENT = re.compile(r"(-?)(\d+(\.\d+)?)%")
_TEMPERATURE = re.compile(r"(-?)(\d+(\.\d+)?)(°C|℃|度|摄氏度)")
_TO_RANGE_UNITS = r"(%|°C|℃|度|摄氏度|cm2|cm²|cm3|cm³|cm|db|ds|kg|km|m2|m²|m³|m3|ml|m|mm|s)"
_TO_RANGE_NUMBER = r"((-?)((\d+)(\.\d+)?)|(\.(\d+)))"
_TO_RANGE = re.compile(_TO_RANGE_NUMBER + _TO_RANGE_UNITS + "[~]" + _TO_RANGE_NUMBER + _TO_RANGE_UNITS)
_POWER_CHARS = "⁰¹²³⁴⁵⁶⁷⁸⁹ˣʸⁿ"
_POWER_VALUES = dict(zip(_POWER_CHARS, "0123456789xyn", strict=True))
_OPERAND = rf"((-?)((\d+)(\.\d+)?[{_POWER_CHARS}]*)|(\.\d+[{_POWER_CHARS}]*)|([A-Za-z][{_POWER_CHARS}]*))"
_ARITHMETIC = re.compile(_OPERAND + r"([\+\-\×÷=])" + _OPERAND)
_OPERATOR_WORDS = {"+": "加", "-": "减", "×": "乘", "÷": "除", "=": "等于"}
# Default mode: signs as a Chinese reader says them, also where no number stands on their left (`=10` after
# a letter read in English). Comparison signs are read before the sentence split, which drops `<` and `>`.
_SIGN_WORDS: dict[str, str] = {"÷": "除以", "=": "等于", "×": "乘"}
_COMPARISON_WORDS: dict[str, str] = {
    "<=": "小于等于", ">=": "大于等于", "!=": "不等于", "≤": "小于等于", "⩽": "小于等于", "≥": "大于等于",
    "⩾": "大于等于", "≠": "不等于", "≈": "约等于", "<": "小于", ">": "大于", "±": "正负",
}  # fmt: skip
COMPARISON_SIGNS: tuple[str, ...] = tuple(sorted(_COMPARISON_WORDS, key=len, reverse=True))
"""Comparison signs (and ±) the default mode reads in words, longest first."""
ARITHMETIC_SIGNS: tuple[str, ...] = tuple(_SIGN_WORDS)
"""Arithmetic signs the default mode reads in words wherever they stand (`=10`)."""
_COMPARISON = re.compile(
    r"\s*(" + "|".join(re.escape(sign) for sign in COMPARISON_SIGNS) + r")\s*(?=[-+]?[\d.A-Za-z(π])"
)
# A sign that is the whole text: the frontend cuts `≤` out of `a≤b` between two English letters.
_LONE_COMPARISON = re.compile(r"^\s*(" + "|".join(re.escape(sign) for sign in COMPARISON_SIGNS) + r")\s*$")
_POWER = re.compile(f"[{_POWER_CHARS}]+")
_MOBILE = re.compile(r"(?<!\d)((\+?86 ?)?1([38]\d|5[0-35-9]|7[678]|9[89])\d{8})(?!\d)")
_LANDLINE = re.compile(r"(?<!\d)((0(10|2[1-3]|[3-9]\d{2})-?)?[1-9]\d{6,7})(?!\d)")
_SERVICE_NUMBER = re.compile(r"(400)(-)?\d{3}(-)?\d{4}")
_REFERENCE_RANGE = re.compile(
    r"(?<![\d\+\-\×÷=])((-?)((\d+)(\.\d+)?))[-~]((-?)((\d+)(\.\d+)?))(?![\d\+\-\×÷=])"
)
_NEGATIVE = re.compile(r"(-)(\d+)")
_VERSION = re.compile(r"((\d+)(\.\d+)(\.\d+)?(\.\d+)+)")
_DECIMAL = re.compile(r"(-?)((\d+)(\.\d+))|(\.(\d+))")
_LONG_NUMBER = re.compile(r"\d{3}\d*")
_NUMBER = re.compile(r"(-?)((\d+)(\.\d+)?)|(\.(\d+))")

# Default-mode range: `3-5`, `20~25度`, `10%-20%`, `2到3天` (left side read like the right side).
_RANGE_SCALES = ("千万", "百万", "万", "亿")  # 10万-20万元: the left side keeps its scale
_RANGE_LEFT_UNITS = r"(?:%|℃|°C|摄氏度|度|" + "|".join(_RANGE_SCALES) + ")?"
_RANGE = re.compile(
    r"(?<![\d.:/\-+×÷=*A-Za-z])(-?)(\d+(?:\.\d+)?)(" + _RANGE_LEFT_UNITS + r")"
    r"(?:(-)|([~～])|(到|至))"
    r"(?=((?(4)|-?))(\d+(?:\.\d+)?)(?![\d.:/]|-\d|[+×÷=*]))"
)
_RANGE_TEMPERATURE_UNITS = ("℃", "°C", "摄氏度", "度")

# Words before a long number that make it a code read digit by digit (default mode).
_CODE_WORDS = (
    "号码", "电话", "手机号", "号是", "号为", "编号", "房间", "房号", "尾号", "卡号", "账号", "帐号", "密码",
    "验证码", "邮编", "工号", "学号", "车次", "航班", "代码", "编码", "序号", "型号", "门牌", "分机", "查号",
    "热线", "拨打", "拨", "致电", "呼叫", "车牌", "单号", "订单", "口令", "ID", "id", "QQ", "No", "NO",
)  # fmt: skip
_CODE_SUFFIXES = ("路", "室", "房", "号房", "次列车", "次航班", "航班", "客服", "热线")
# Words right before a number that make it a code: a room after its building (3栋502, 2单元301).
_CODE_WORDS_ADJACENT = ("单元", "栋", "幢", "号楼", "座")
# 打 right before the shape of a service number (打110, 打12345, 打95588) is a call; 打3000字 is not.
_CALLED_NUMBER = re.compile(r"(?:1\d\d|1\d{4}|95\d{3})")
_DATE_UNIT_RANGE = re.compile(r"(?<=[年月日号])-(?=\d+[年月日号])")  # 18日-20日, 2018年-2020年: 到
# 2023-2024赛季: two years a span apart (1900-2099, the second later) are read as years, with or without 年.
_YEAR_SPAN = re.compile(r"(?<![\d.\-])((?:19|20)\d\d)([-~～到至])((?:19|20)\d\d)(?![\d.])")
# 2018款, 2023届, 2020级, 2019版: a model year or a class year, read like a year (2000款 stays 两千款).
_YEAR_BEFORE_WORD = re.compile(r"(?<![\d.])((?:19|20)\d\d)(?=款|届|级|版)(?<!2000)")
# 9秒83: hundredths after the seconds of a race time are read digit by digit (九秒八三).
_SECOND_HUNDREDTHS = re.compile(r"(?<=\d秒)(\d\d)(?![\d.])")
_GENERATION = re.compile(r"(?<![\d.])([05-9]0)后")  # 80后, 00后: people born in the 1980s, 2000s
# A mobile number in groups (138-1234-5678): its shape alone makes it a phone number.
_MOBILE_GROUPED = re.compile(r"(?<![\d\-])(?:\+?86-)?1[3-9]\d-\d{4}-\d{4}(?![\d\-])")
_NEGATIVE_DECIMAL = re.compile(r"(?<![\d.])-(\d+\.\d+)")  # -0.5: 负零点五 (the shared rule says 负零零点五)
_ROOT = re.compile(r"√(?=[\d(])")  # √4: 根号四 (a √ before no number is a check mark, and is dropped)
_MONEY_TRAILING_ZEROS = re.compile(r"(\d+)\.(\d*[1-9])?0+(?=(?:美|欧|港|日)?元|块)")


def _measure_pattern(words: tuple[str, ...]) -> str:
    unique = sorted(set(words), key=lambda word: (-len(word), word))
    return "(" + "|".join(re.escape(word) for word in unique) + ")"


@functools.lru_cache(maxsize=2)
def _quantity_pattern(compat: bool) -> re.Pattern[str]:
    words = _REFERENCE_MEASURE_WORDS if compat else _REFERENCE_MEASURE_WORDS + _EXTRA_MEASURE_WORDS
    guard = "" if compat else "(?!" + "|".join(_NOT_A_MEASURE_AFTER) + ")"
    # the guard sits before the measure word: it rejects `年级` after the number
    return re.compile(r"(\d+)([多余几\+])?" + guard + _measure_pattern(words))


@functools.lru_cache(maxsize=1)
def _followed_by_measure() -> re.Pattern[str]:
    words = _REFERENCE_MEASURE_WORDS + _EXTRA_MEASURE_WORDS + tuple(_UNIT_WORDS.values())
    return re.compile(
        r"[多余几\+]?" + _measure_pattern(words) + "|[%.年]|" + _measure_pattern(_CODE_SUFFIXES)
    )


def _signed_number_words(sign: str, number: str) -> str:
    return ("负" if sign else "") + decimal(number)


def _number_words(match: re.Match[str], *, compat: bool) -> str:
    sign, number, pure_fraction = match.group(1), match.group(2), match.group(5)
    if pure_fraction:
        return decimal(pure_fraction)
    words = _signed_number_words(sign, number)
    if not compat and not sign and len(number) >= 3 and not _after_ordinal(match):
        words = spoken_liang(words, leading_hundred=False)
    return words


def _after_ordinal(match: re.Match[str]) -> bool:
    return match.string[: match.start()].endswith("第")


def _quantity_words(match: re.Match[str], *, compat: bool) -> str:
    number, approx, measure = match.group(1), match.group(2) or "", match.group(3)
    if approx == "+":
        approx = "多"
    words = cardinal(number)
    if compat:
        words = "两" if words == "二" else words
    elif len(number) >= 3 and _code_before_measure(match):
        words = digits(number, phone_one=True)  # G1234次, 10086客服: a train number, a hotline
    elif not _after_ordinal(match) and measure != "两":  # 2两 (a weight): 二两, not 两两
        words = spoken_liang(words)
    return words + approx + measure


def _code_before_measure(match: re.Match[str]) -> bool:
    """G1234次 (a letter before), 10086客服 (客 here starts a code suffix): the number is a code."""
    return _letter_before(match) or match.string.startswith(_CODE_SUFFIXES, match.start(3))


def _money_without_trailing_zeros(match: re.Match[str]) -> str:
    """`100.00元` -> `100元`, `1.50元` -> `1.5元` (default mode: amounts are not read 点零零)."""
    return match.group(1) + ("." + match.group(2) if match.group(2) else "")


def _long_number_words(match: re.Match[str], *, compat: bool, context: str) -> str:
    number = match.group(0)
    if compat or _reads_as_code(match, context):
        return digits(number, phone_one=True)
    words = cardinal(number)
    return words if _after_ordinal(match) else spoken_liang(words, leading_hundred=False)


def _reads_as_code(match: re.Match[str], context: str) -> bool:
    """Default mode: a number of 3+ digits is an identifier (read digit by digit) only with a reason."""
    number = match.group(0)
    after = match.string[match.end() :]
    return (
        number.startswith("0")
        or _letter_before(match)
        or len(number) > 16
        or _has_code_word_before(match, context)
        or match.string.endswith(_CODE_WORDS_ADJACENT, 0, match.start())
        or (match.string.endswith("打", 0, match.start()) and _CALLED_NUMBER.fullmatch(number) is not None)
        or after.startswith(_CODE_SUFFIXES)
    )


def _letter_before(match: re.Match[str]) -> bool:
    """A Latin letter right before the number: G1234, CA981 (train and flight numbers)."""
    previous = match.string[match.start() - 1 : match.start()]
    return previous.isascii() and previous.isalpha()


def _has_code_word_before(match: re.Match[str], context: str) -> bool:
    """A word such as 电话, 号码 or 密码 in the 8 characters before the number (`context` is the end of
    the previous clause, so that `电话：87654321` still counts)."""
    before = (context + match.string[: match.start()])[-8:]
    return any(word in before for word in _CODE_WORDS)


def _fraction_words(match: re.Match[str]) -> str:
    sign = "负" if match.group(1) else ""
    return f"{sign}{decimal(match.group(3))}分之{decimal(match.group(2))}"


def _percent_words(match: re.Match[str]) -> str:
    sign = "负" if match.group(1) else ""
    return f"{sign}百分之{decimal(match.group(2))}"


def _temperature_words(match: re.Match[str], *, compat: bool) -> str:
    # 零下-5度 says below zero twice (default mode reads it once)
    said = not compat and match.string.endswith("零下", 0, match.start())
    sign = "零下" if match.group(1) and not said else ""
    # The reference tests the decimal part (its group 3) instead of the unit, so it always says 度.
    unit = "摄氏度" if match.group(4) == "摄氏度" and not compat else "度"
    return f"{sign}{decimal(match.group(2))}{unit}"


def _arithmetic_words(match: re.Match[str], *, compat: bool) -> str:
    sign = match.group(8)
    words = _OPERATOR_WORDS[sign] if compat else _SIGN_WORDS.get(sign, _OPERATOR_WORDS[sign])
    return match.group(1) + words + match.group(9)


def _power_words(match: re.Match[str]) -> str:
    return _power_text(match.group(0))


def _power_text(powers: str) -> str:
    """`²` -> 的2次方 (its digits are read later with the rest)."""
    return "的" + "".join(_POWER_VALUES[ch] for ch in powers) + "次方"


def _digit_groups(text: str, separator: str) -> str:
    """`010-12345678` -> 零幺零，幺二三四五六七八 (a pause between groups)."""
    return "，".join(digits(part, phone_one=True) for part in text.split(separator) if part)


def _phone_words(match: re.Match[str], *, compat: bool, kind: str, context: str = "") -> str:
    """Digit groups of a phone number; `kind` is `mobile`, `landline` or `service` (400 numbers).

    Default mode: a number followed by a measure word is a count (`12345678人`), and a landline number
    without an area code needs a word such as 电话 or 拨打 before it; otherwise it is left as a number.
    """
    text = match.group(0)
    if not compat:
        if _followed_by_measure().match(match.string, match.end()):
            return text
        if kind == "landline" and match.group(2) is None and not _has_code_word_before(match, context):
            return text
    if kind == "mobile":
        return "，".join(digits(part, phone_one=True) for part in text.strip("+").split())
    return _digit_groups(text, "-")


def _reference_range_words(match: re.Match[str]) -> str:
    return (
        f"{_NUMBER.sub(_reference_number, match.group(1))}到{_NUMBER.sub(_reference_number, match.group(6))}"
    )


def _reference_number(match: re.Match[str]) -> str:
    return _number_words(match, compat=True)


def _negative_words(match: re.Match[str]) -> str:
    return "负" + decimal(match.group(2))


def _version_words(match: re.Match[str]) -> str:
    return "".join("点" if ch == "." else decimal(ch) for ch in match.group(1))


def _range_words(match: re.Match[str]) -> str:
    """Default mode: rewrite the left side of a range as the right side will be read, then 到.

    The right number stays in digits for the later rules, which see its unit or measure word.
    """
    sign, left, left_unit = match.group(1), match.group(2), match.group(3)
    is_dash = match.group(4) is not None
    if is_dash and left_unit == "" and "." not in left and "." not in match.group(8):
        # `2024-05`: a year and a month, not a range (left to the date rule)
        if len(left) == 4 and match.group(8).startswith("0"):
            return match.group(0)
    right_end = match.end(8)
    after = match.string[right_end:]
    if left_unit == "%" or after.startswith("%"):
        left_words = ("负" if sign else "") + "百分之" + decimal(left)
    elif left_unit in _RANGE_TEMPERATURE_UNITS or after.startswith(_RANGE_TEMPERATURE_UNITS):
        left_words = ("零下" if sign else "") + decimal(left)
        if left_unit:  # `-3℃到5℃` keeps both units: 零下三度到五度
            left_words += "摄氏度" if left_unit == "摄氏度" else "度"
    elif left_unit in _RANGE_SCALES:
        left_words = spoken_liang(_signed_number_words(sign, left) + left_unit)
    elif after.startswith(_YEAR_WORDS) and len(left) == len(match.group(8)) >= 2 and not sign:
        left_words = digits(left)  # a span of years: 二零二零到二零二四年
    else:
        left_words = _signed_number_words(sign, left)
        if not sign and not _after_ordinal(match) and _followed_by_measure().match(after):
            left_words = spoken_liang(left_words)
    return left_words + "到"


# ---------------------------------------------------------------------------------------------------
# Symbols next to numbers (default mode, also offered to the frontend as `prepare_zh_text`)
# ---------------------------------------------------------------------------------------------------

_THOUSANDS = re.compile(r"(?<![\d.,])\d{1,3}(?:,\d{3})+(?![\d]|,\d|\.\d*,)")
_CURRENCY_BEFORE = (("US$", "美元"), ("HK$", "港元"), ("¥", "元"), ("￥", "元"), ("$", "美元"),
                    ("€", "欧元"), ("£", "英镑"))  # fmt: skip
_CURRENCY = re.compile(r"(US\$|HK\$|[¥￥$€£])\s?(\d+(?:\.\d+)?)(多|余)?(千万|百万|十万|十|百|千|万|亿)?")
_CURRENCY_WORD_AFTER = re.compile(r"\s?(?:美|欧|港|日)?元")
UNIT_SIGNS: str = "".join(unit for unit in _UNIT_WORDS if len(unit) == 1 and not unit.isascii())
"""One-character unit signs (`㎡`) the default mode reads after a number."""
_UNIT = re.compile(
    r"(?<![A-Za-z\d.])(?<![A-Za-z] )(\d+(?:\.\d+)?)\s?("
    + "|".join(re.escape(unit) for unit in sorted(_UNIT_WORDS, key=len, reverse=True))
    + r")(?![A-Za-z0-9²³])"
)
_FAHRENHEIT = re.compile(r"(-?)(\d+(?:\.\d+)?)\s?(?:°F|℉)")
_DEGREE_SIGN = re.compile(r"(\d)\s?(?:°C|℃|°)(?![A-Za-z])")
_DIGIT_DASH = re.compile(r"(?<=\d)\s*[–—－]+\s*(?=\d)")
_MINUS_SIGN = re.compile(r"[−－﹣](?=\d)")  # the minus sign, full-width minus and small minus: a hyphen
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_SLASH_FRACTION = re.compile(r"(?<![\d/.])(-?)(\d+)/(\d+)(?![\d/.])")
# A month/day written with a slash is a date where a leading zero (03/15) or date words around it say so
# (截止日期是12/31, 5/20之前, 10/1放假), or a denominator of 1. Otherwise 3/4 is a fraction: in running
# Chinese text that is what it means (dates are written 3月4日), and 7/4 may be an improper one.
_SLASH_DATE_BEFORE = ("日期", "截止", "截至", "生日", "定于", "生于", "时间", "每年")
_SLASH_DATE_AFTER = (
    "前", "之前", "以前", "起", "开始", "举行", "截止", "到期", "当天", "那天", "上午", "下午", "中午",
    "晚上", "凌晨", "星期", "周一", "周二", "周三", "周四", "周五", "周六", "周日", "周末", "放假", "开学",
)  # fmt: skip
_PERMILLE = re.compile(r"(-?)(\d+(?:\.\d+)?)\s?([‰‱])")
_LETTER_POWER = re.compile(f"(?<![A-Za-z])([A-Za-z])([{_POWER_CHARS}]+)")
# Capital letters and 3+ digits make a code (G1234次, CA1234航班, 京A12345, SF1234567890) before a train
# or flight word, after a code word (车牌, 单号), or with 5+ digits: the Chinese reader says its digits.
_LETTER_CODE = re.compile(r"(?<![A-Za-z\d])([A-Z]{1,3})(\d{3,})(?![\d.])")
_LETTER_CODE_AFTER = ("次", "航班", "列车", "车次")
_IDEOGRAPHIC_ZERO = re.compile(
    r"(?<=[零一二三四五六七八九十百千万亿〇])〇|〇(?=[零一二三四五六七八九十百千万亿〇])"
)


def _near_chinese(match: re.Match[str]) -> bool:
    """Whether a number with its symbol belongs to Chinese text: its nearest neighbours decide.

    A Chinese neighbour says yes, a Latin-letter neighbour says no (`I ran 5km`); with neither (`$20`
    alone, or between punctuation) the text decides: yes if it has any Chinese character.
    """
    text = match.string
    left = text[: match.start()].rstrip()
    right = text[match.end() :].lstrip()
    left_char = left[-1] if left else ""
    right_char = right[0] if right else ""
    if _CJK.match(left_char) or _CJK.match(right_char):
        return True
    if (left_char.isascii() and left_char.isalpha()) or (right_char.isascii() and right_char.isalpha()):
        return False
    return _CJK.search(text) is not None


def _guarded(
    replace: Callable[[re.Match[str]], str], only_near_chinese: bool
) -> Callable[[re.Match[str]], str]:
    if not only_near_chinese:
        return replace

    def guarded(match: re.Match[str]) -> str:
        return replace(match) if _near_chinese(match) else match.group(0)

    return guarded


def _currency_words(match: re.Match[str]) -> str:
    """`¥12.5` -> `12.5元`; a sign before an amount that already says 元 is just dropped (`$5美元`)."""
    symbol, amount, approx, scale = match.group(1), match.group(2), match.group(3) or "", match.group(4) or ""
    if _CURRENCY_WORD_AFTER.match(match.string, match.end()):
        return amount + approx + scale
    return amount + approx + scale + dict(_CURRENCY_BEFORE)[symbol]


def _slash_fraction_words(match: re.Match[str]) -> str:
    """`2/3` -> 三分之二, written out at once: the splitter would cut at the slash; `12/31` in a date
    context -> 十二月三十一日 (see `_SLASH_DATE_BEFORE`)."""
    if _is_slash_date(match):
        return f"{cardinal(match.group(2))}月{cardinal(match.group(3))}日"
    return ("负" if match.group(1) else "") + f"{decimal(match.group(3))}分之{decimal(match.group(2))}"


def _is_slash_date(match: re.Match[str]) -> bool:
    sign, month, day = match.group(1), match.group(2), match.group(3)
    if sign or not (1 <= int(month) <= 12 and 1 <= int(day) <= 31):
        return False
    before = match.string[: match.start()].rstrip("是为：: ")
    if before and before[-1] in "=+-×÷(":  # x=5/3 is arithmetic
        return False
    after = match.string[match.end() :]
    return (
        month.startswith("0")
        or day.startswith("0")
        or day == "1"  # no one says 一分之十: 10/1 is 十月一日
        or before.endswith(_SLASH_DATE_BEFORE)
        or after.startswith(_SLASH_DATE_AFTER)
    )


def _permille_words(match: re.Match[str]) -> str:
    """`8‰` -> 千分之8, `3‱` -> 万分之3 (the number is read later, like any other)."""
    per = "千分之" if match.group(3) == "‰" else "万分之"
    return ("负" if match.group(1) else "") + per + match.group(2)


def _letter_code_words(match: re.Match[str]) -> str:
    is_code = (
        len(match.group(2)) >= 5
        or match.string.startswith(_LETTER_CODE_AFTER, match.end())
        or _has_code_word_before(match, "")
    )
    return match.group(1) + digits(match.group(2), phone_one=True) if is_code else match.group(0)


def _letter_power_words(match: re.Match[str]) -> str:
    """`x²` -> x的二次方; `m²` without a number before it (元/m²) is the unit, 平方米."""
    unit = _UNIT_WORDS.get(match.group(0))
    return unit if unit is not None else match.group(1) + _power_text(match.group(2))


def _unit_words(match: re.Match[str]) -> str:
    return match.group(1) + _UNIT_WORDS[match.group(2)]


def _fahrenheit_words(match: re.Match[str]) -> str:
    named = match.string.endswith("华氏", 0, match.start())  # 华氏98℉ names the scale already
    return ("" if named else "华氏") + match.group(1) + match.group(2) + "度"


def prepare_zh_text(text: str) -> str:
    """Write number-attached symbols of Chinese text as Chinese words, before language segmentation.

    `25km` -> `25公里`, `120km/h` -> `120公里每小时`, `¥12.5` / `￥12.5` -> `12.5元`, `$20` -> `20美元`,
    `-3℃` / `-3°C` -> `-3度`, `98°F` -> `华氏98度`, `1,234,567` -> `1234567`, `3–5` -> `3-5`; numbers stay
    in digits (`normalize_zh` reads them), except fractions (`2/3` -> 三分之二) and 〇 among Chinese
    numerals (`二〇二四` -> 二零二四), which the splitter would cut away. A number whose nearest
    neighbour is a Latin word and not a Chinese character (`I ran 5km`, `iPhone 5s`) is left alone,
    so English text keeps its own reading.
    Only for Timbre's default reading; the reference never does this.
    """
    return _expand_number_symbols(text, only_near_chinese=True)


def _expand_number_symbols(text: str, *, only_near_chinese: bool) -> str:
    text = _DIGIT_DASH.sub("-", text)
    text = _MINUS_SIGN.sub("-", text)
    text = _THOUSANDS.sub(_guarded(lambda m: m.group(0).replace(",", ""), only_near_chinese), text)
    text = _CURRENCY.sub(_guarded(_currency_words, only_near_chinese), text)
    text = _FAHRENHEIT.sub(_guarded(_fahrenheit_words, only_near_chinese), text)
    text = _DEGREE_SIGN.sub(_guarded(lambda m: m.group(1) + "度", only_near_chinese), text)
    text = _UNIT.sub(_guarded(_unit_words, only_near_chinese), text)
    text = _PERMILLE.sub(_guarded(_permille_words, only_near_chinese), text)
    if only_near_chinese:  # the frontend's language splitter would cut these pieces away
        text = _SLASH_FRACTION.sub(_guarded(_slash_fraction_words, only_near_chinese), text)
        text = _IDEOGRAPHIC_ZERO.sub("零", text)
        text = _LETTER_POWER.sub(_guarded(_letter_power_words, only_near_chinese), text)
        text = _LETTER_CODE.sub(_guarded(_letter_code_words, only_near_chinese), text)
    return text


# ---------------------------------------------------------------------------------------------------
# Sentences
# ---------------------------------------------------------------------------------------------------


def _split_sentences(text: str) -> list[str]:
    """Drop spaces and bracket-like symbols, then cut after each sentence or clause mark."""
    text = text.replace(" ", "")
    text = _DROP_BEFORE_SPLIT.sub("", text)
    text = _SENTENCE_END.sub("\\1\n", text).strip()
    return [sentence.strip() for sentence in re.split(r"\n+", text)]


# ---------------------------------------------------------------------------------------------------
# The two modes as ordered lists of shared rewrite steps
# ---------------------------------------------------------------------------------------------------

Step = Callable[[str, str], str]
"""One rewrite of a sentence, given the raw end of the previous clause (`context`)."""


def _sub(pattern: re.Pattern[str], words: Callable[[re.Match[str]], str]) -> Step:
    return lambda sentence, context: pattern.sub(words, sentence)


def _sub_in_context(pattern: re.Pattern[str], words: Callable[..., str]) -> Step:
    """Like `_sub`, for rules that look at the previous clause (电话 before a number)."""
    return lambda sentence, context: pattern.sub(functools.partial(words, context=context), sentence)


def _replace_each(pairs: Iterable[tuple[str, str]]) -> Step:
    pairs = tuple(pairs)

    def replace(sentence: str, context: str) -> str:
        for symbol, words in pairs:
            sentence = sentence.replace(symbol, words)
        return sentence

    return replace


def _sub_until_stable(pattern: re.Pattern[str], words: Callable[[re.Match[str]], str]) -> Step:
    """Arithmetic chains (1+2+3) need one pass per operator: operands overlap."""

    def rewrite(sentence: str, context: str) -> str:
        while pattern.search(sentence):
            sentence = pattern.sub(words, sentence)
        return sentence

    return rewrite


def _phone_steps(compat: bool) -> list[Step]:
    return [
        _sub_in_context(pattern, functools.partial(_phone_words, compat=compat, kind=kind))
        for pattern, kind in ((_MOBILE, "mobile"), (_LANDLINE, "landline"), (_SERVICE_NUMBER, "service"))
    ]


def _number_steps(compat: bool) -> list[Step]:
    """Signs, versions, decimals, quantities, long numbers and plain numbers: the last steps of both modes."""
    return [
        _sub(_REFERENCE_RANGE, _reference_range_words),
        _sub(_NEGATIVE, _negative_words),
        _sub(_VERSION, _version_words),
        _sub(_DECIMAL, _reference_number),
        lambda sentence, context: _quantity_pattern(compat).sub(
            functools.partial(_quantity_words, compat=compat), sentence
        ),
        _sub_in_context(_LONG_NUMBER, functools.partial(_long_number_words, compat=compat)),
        _sub(_NUMBER, functools.partial(_number_words, compat=compat)),
    ]


_TO_RANGE_STEP = _sub(_TO_RANGE, lambda m: m.group(0).replace("~", "至"))  # 20%~30% with units
_FORMULA_STEPS: list[Step] = [
    _sub(_POWER, _power_words),
    _sub(_FRACTION, _fraction_words),
    _sub(_PERCENT, _percent_words),
]

# GPT-SoVITS v2's order (PaddleSpeech's TextNormalizer), misreadings included.
REFERENCE_STEPS: tuple[Step, ...] = (
    _sub(_DATE, functools.partial(_date_words, compat=True)),
    _sub(_DATE_NUMERIC, _numeric_date_words),
    _sub(_TIME_RANGE, functools.partial(_time_words, compat=True)),
    _sub(_TIME, functools.partial(_time_words, compat=True)),
    _TO_RANGE_STEP,
    _sub(_TEMPERATURE, functools.partial(_temperature_words, compat=True)),
    _replace_each(_REFERENCE_MEASURES),
    _sub_until_stable(_ARITHMETIC, functools.partial(_arithmetic_words, compat=True)),
    *_FORMULA_STEPS,
    *_phone_steps(compat=True),
    *_number_steps(compat=True),
    _replace_each(_CIRCLED_AND_SYMBOL_WORDS),
)

# Timbre's order: the forms that the reference misreads (numeric dates, ranges, codes, ratios) are read
# before the generic number rules can take them apart.
TIMBRE_STEPS: tuple[Step, ...] = (
    _sub(_MOBILE_GROUPED, lambda m: _digit_groups(m.group(0).lstrip("+"), "-")),
    _replace_each([("〇", "零")]),
    _sub(_ROOT, lambda m: "根号"),
    _sub(_DATE_UNIT_RANGE, lambda m: "到"),
    _sub(_DATE_NUMERIC, _numeric_date_words),
    _sub(_DATE_NUMERIC_LOOSE, _numeric_date_words),
    _sub(_YEAR_MONTH_NUMERIC, _year_month_words),
    _sub(_TIME_RANGE, functools.partial(_time_words, compat=False)),
    _sub(_TIME, functools.partial(_time_words, compat=False)),
    _sub(_RATIO, _ratio_words),
    *_phone_steps(compat=False),
    _sub(_YEAR_SPAN, _year_span_words),
    _sub(_RANGE, _range_words),
    _sub(_YEAR_ANY_LENGTH, _long_year_words),
    _sub(_YEAR_BEFORE_WORD, lambda m: digits(m.group(1))),
    _sub(_SECOND_HUNDREDTHS, _hundredths_words),
    _sub(_GENERATION, lambda m: digits(m.group(1)) + "后"),
    _sub(_MONEY_TRAILING_ZEROS, _money_without_trailing_zeros),
    _sub(_DATE, functools.partial(_date_words, compat=False)),
    _sub(_MONTH_DAY, _month_day_words),
    _TO_RANGE_STEP,
    _sub(_TEMPERATURE, functools.partial(_temperature_words, compat=False)),
    lambda sentence, context: _expand_number_symbols(sentence, only_near_chinese=False),
    _sub_until_stable(_ARITHMETIC, functools.partial(_arithmetic_words, compat=False)),
    _sub(_SLASH_FRACTION, _slash_fraction_words),
    *_FORMULA_STEPS,
    _sub(_NEGATIVE_DECIMAL, lambda m: "负" + decimal(m.group(1))),
    *_number_steps(compat=False),
    _replace_each(_SIGN_WORDS.items()),
    _replace_each(_CIRCLED_AND_SYMBOL_WORDS),
)


def _normalize_numbers(sentence: str, *, compat: bool, context: str = "") -> str:
    """Write every number form of one sentence in Chinese characters: the mode's steps, in order.

    `context` is the raw end of the previous clause (default mode looks there for words like 电话).
    """
    sentence = sentence.translate(traditional_to_simplified_table(compat)).translate(_FULLWIDTH_TO_HALFWIDTH)
    for step in REFERENCE_STEPS if compat else TIMBRE_STEPS:
        sentence = step(sentence, context)
    return _DROP_AFTER_NUMBERS.sub("", sentence)


def _keep_speakable(sentence: str) -> str:
    """Map punctuation to the six kept marks and delete everything that is not a CJK ideograph."""
    sentence = sentence.replace("嗯", "恩").replace("呣", "母")
    sentence = _PUNCTUATION_PATTERN.sub(lambda m: _PUNCTUATION_MAP[m.group(0)], sentence)
    return _NOT_KEPT.sub("", sentence)


def normalize_zh(text: str, *, reference_compat: bool = False) -> str:
    """Normalize one Chinese text segment for the G2P.

    Returns a string of CJK ideographs (U+4E00-U+9FA5) and the marks `! ? … , . -`, no two marks in a
    row. Numbers, dates, times, units and symbols are written out; full-width letters and digits are
    folded, traditional characters simplified; anything else (Latin letters, emoji, rare ideographs
    outside the basic block, brackets and quotes) is removed. With `reference_compat=True` the result
    equals GPT-SoVITS v2's `chinese2.text_normalize(text)` character for character; see the module
    docstring for what the default reads differently.
    """
    compat = reference_compat
    if not compat:
        text = _expand_number_symbols(text, only_near_chinese=False)
        for pattern in (_COMPARISON, _LONE_COMPARISON):
            text = pattern.sub(lambda m: _COMPARISON_WORDS[m.group(1)], text)
        text = _DATE_BEFORE_TIME.sub(_numeric_date_words, text)
    sentences = _split_sentences(text)
    spoken = "".join(
        _keep_speakable(_normalize_numbers(sentence, compat=compat, context=previous))
        for previous, sentence in zip(["", *sentences], sentences, strict=False)
    )
    return _REPEATED_PUNCTUATION.sub(r"\1", spoken)
