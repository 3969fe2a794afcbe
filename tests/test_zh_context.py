"""The context-rule table for Chinese readings (core/text/zh_context.py, data/zh_context_readings.tsv)."""

from __future__ import annotations

import pytest

from core.errors import TextError
from core.text import text_to_phones
from core.text.zh_context import context_reading, context_rules, parse_classes, parse_rules


def _pinyin(text: str, reference_compat: bool = False) -> list[str | None]:
    return [s for _, s in text_to_phones(text, "zh", reference_compat=reference_compat).pinyin()]


def test_the_shipped_table_parses_and_every_rule_reads_a_syllable() -> None:
    rules = context_rules()
    assert sum(len(found) for found in rules.values()) > 80
    assert all(rule.reading[-1] in "12345" for found in rules.values() for rule in found)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("行\thang2", "expected char, reading and conditions"),
        ("行\thang2\tleft=[", "bad pattern"),
        ("行\thang2\tbefore=把", "unknown condition"),
        ("行行\thang2\tleft=一", "one character and a TONE3 syllable"),
    ],
)
def test_a_bad_table_line_names_its_line(line: str, message: str) -> None:
    with pytest.raises(TextError, match=f"rules.tsv line 2: .*{message}"):
        parse_rules(["# comment", line], "rules.tsv")


def test_first_rule_that_holds_wins_and_word_rules_need_a_word() -> None:
    rules = parse_rules(["行\thang2\tleft=两", "行\txing4\tright=字"], "t")
    assert context_reading("两行字", 1, rules=rules) == "hang2"
    assert context_reading("一行字", 1, rules=rules) == "xing4"
    assert context_reading("一行人", 1, rules=rules) is None
    word_rule = parse_rules(["得\tdei3\tprev=必须"], "t")
    assert context_reading("必须得走", 2, rules=word_rule) is None  # no words given
    words = [("必须", "d"), ("得", "ud"), ("走", "v")]
    assert context_reading("必须得走", 2, words, 1, rules=word_rule) == "dei3"


def test_a_class_row_stands_for_every_member_with_its_own_reading() -> None:
    classes = parse_classes(["surname\t曾\tzeng1", "surname\t解\txie4", "other\t行\thang2"], "c")
    rules = parse_rules(["@surname\t@\tleft=姓", "@surname\tshan4\tright=X"], "t", classes)
    assert sorted(rules) == ["曾", "解"]
    assert context_reading("他姓曾", 2, rules=rules) == "zeng1"
    assert context_reading("他姓解", 2, rules=rules) == "xie4"
    assert context_reading("曾X", 0, rules=rules) == "shan4"  # a fixed reading for every member
    redup = parse_rules(["@surname\t@\tleft={char}了"], "t", classes)
    assert context_reading("曾了曾", 2, rules=redup) == "zeng1"
    assert context_reading("解了曾", 2, rules=redup) is None  # {char} is the member itself
    with pytest.raises(TextError, match="t line 1: unknown character class '@nope'"):
        parse_rules(["@nope\t@\tleft=姓"], "t", classes)
    subset = parse_rules(["@surname[解]\t@\tleft=姓"], "t", classes)
    assert sorted(subset) == ["解"] and context_reading("他姓解", 2, rules=subset) == "xie4"
    with pytest.raises(TextError, match="t line 1: 行 not in class 'surname'"):
        parse_rules(["@surname[解行]\t@\tleft=姓"], "t", classes)
    with pytest.raises(TextError, match="c line 1: expected class, one character"):
        parse_classes(["surname\t曾国\tzeng1"], "c")


def test_opening_flags_look_at_the_word_a_character_opens() -> None:
    rules = parse_rules(["区\tou1\tword_start right=老师", "曾\tzeng1\tname_start"], "t")
    assert context_reading("区老师", 0, [("区", "n"), ("老师", "n")], 0, rules=rules) == "ou1"
    assert context_reading("社区老师", 1, [("社区", "n"), ("老师", "n")], 0, rules=rules) is None
    assert context_reading("曾国藩", 0, [("曾国藩", "nr")], 0, rules=rules) == "zeng1"
    assert context_reading("曾经", 0, [("曾经", "nr")], 0, rules=rules) is None  # a dictionary phrase
    assert context_reading("曾国藩", 0, [("曾国藩", "n")], 0, rules=rules) is None  # not tagged a name
    verb = parse_rules(["重\tchong2\tword_start unlisted word_pos=v.*"], "t")
    assert context_reading("重填", 0, [("重填", "v")], 0, rules=verb) == "chong2"
    assert context_reading("重视", 0, [("重视", "v")], 0, rules=verb) is None  # the dictionary lists it
    assert context_reading("重填", 0, [("重填", "n")], 0, rules=verb) is None


def test_word_start_lets_neighbour_conditions_look_around_a_longer_word() -> None:
    opening = parse_rules(["地\tde5\tword_start prev_pos=a.*"], "t")
    single = parse_rules(["地\tde5\tprev_pos=a.*"], "t")
    words = [("认真", "a"), ("地教", "nz"), ("学生", "n")]
    assert context_reading("认真地教学生", 2, words, 1, rules=opening) == "de5"  # 地 opens the glued word
    assert (
        context_reading("认真地教学生", 2, words, 1, rules=single) is None
    )  # else it needs a word of its own
    assert context_reading("天地教", 1, [("天地", "n"), ("教", "v")], 0, rules=opening) is None  # not opening


def test_later_pos_looks_at_the_rest_of_the_clause_and_a_bang_negates_a_word_condition() -> None:
    rules = parse_rules(["为\twei2\tprev_pos=n.* !later_pos=v.*"], "t")
    copula = [("有效期", "n"), ("为", "p"), ("三年", "m")]
    assert context_reading("有效期为三年", 3, copula, 1, rules=rules) == "wei2"
    benefactive = [("政府", "n"), ("为", "p"), ("居民", "n"), ("修路", "v")]
    assert context_reading("政府为居民修路", 2, benefactive, 1, rules=rules) is None  # a verb follows
    later_clause = [("政府", "n"), ("为", "p"), ("居民", "n"), (",", "x"), ("修路", "v")]
    assert context_reading("政府为居民,修路", 2, later_clause, 1, rules=rules) == "wei2"  # not past the comma
    opening = parse_rules(["得\tdei3\t!prev=.*[\\u4e00-\\u9fa5] next_pos=d.*"], "t")
    first = [("得", "ud"), ("赶紧", "d"), ("走", "v")]
    assert context_reading("得赶紧走", 0, first, 0, rules=opening) == "dei3"  # no word before it
    after = [("跑", "v"), ("得", "ud"), ("很", "d"), ("快", "a")]
    assert context_reading("跑得很快", 1, after, 1, rules=opening) is None  # a word before it
    with pytest.raises(TextError, match="unknown condition"):
        parse_rules(["为\twei2\t!left=X"], "t")  # only word conditions negate


@pytest.mark.parametrize(
    ("text", "index", "reading"),
    [
        ("他姓曾", 2, "zeng1"),  # surname after 姓
        ("曾老师来了", 0, "zeng1"),  # surname before a title
        ("脸上挂着两行泪", 5, "hang2"),  # measure word after a numeral
        ("我们一行人出发了", 3, "xing2"),  # not before a thing written in lines
        ("她唱了一曲", 4, "qu3"),
        ("我们总得想个办法", 3, "dei2"),  # must (dei3), after an adverb; sandhi before 想
        ("大家尊他为师", 4, "wei2"),  # 尊…为
        ("你再想了一想", 4, "yi5"),  # V了一V
        ("他一枪打中了目标", 4, "zhong4"),  # result complement
        ("那棵树倒了", 3, "dao3"),
        ("把剩饭倒了", 3, "dao4"),
        ("他晃了晃脑袋", 3, "huang4"),
        ("这本书我看过", 5, "guo5"),  # the experiential particle
        ("二零一一年一月一日", 3, "yi1"),  # digits and dates keep yi1
        ("她扎了两条小辫", 1, "za1"),  # tie
        ("第二卷已经出版了", 2, "juan4"),  # a volume
        ("桌上有一卷胶带", 4, "juan3"),  # a roll
        ("我们看了一场电影", 5, "chang3"),  # a show
        ("昨天下了一场雪", 5, "chang2"),  # an event
        ("葛先生来了", 0, "ge3"),  # surname before a title
        ("曾国藩是清朝大臣", 0, "zeng1"),  # surname opening a name
        ("单田芳的评书很有名", 0, "shan4"),
        ("朴槿惠访问了中国", 0, "piao2"),
        ("社区医生很忙", 1, "qu1"),  # not a surname inside a word before a title
        ("我曾总结过经验", 1, "ceng2"),  # 曾|总结, not 曾总
        ("这块地很肥", 2, "di4"),  # land after a measure word (jieba tags the lone 地 as the particle)
        ("这首歌的调很高", 4, "diao4"),  # the noun after 的
        ("请把表格重填一遍", 4, "chong2"),  # again: an unlisted verb word opened by 重
        ("这一重要发现", 2, "zhong4"),  # 一 + 重要, not a layer
        ("我中了一等奖", 1, "zhong4"),  # win
        ("过了一会儿他来了", 0, "guo4"),  # the verb opening a sentence
        ("他气得说不出话", 2, "de5"),  # a complement, not 'must'
        ("孩子得早点睡", 2, "dei3"),  # must, after a person
        ("裁缝给我量了量尺寸", 6, "liang2"),  # a reduplicated verb reads as its first half
        ("作家查良镛的笔名是金庸", 2, "zha1"),  # a surname opening a name
        ("查尔斯是英国人", 0, "cha2"),  # a transliteration, not a Chinese name
        ("把湿衣服晾干", 5, "gan1"),  # result complement: dry
        ("院子里种满了花", 3, "zhong4"),  # the verb before a complement
        ("这种花很香", 1, "zhong3"),  # the measure word
        ("这个人脾气特别横", 7, "heng4"),  # @adjective after a degree adverb
        ("他的鞋子太脏了", 5, "zang1"),
        ("他闻到烟味就很恶心", 7, "e3"),  # not inside a dictionary word (恶心)
        ("我买了四只小鸟", 4, "zhi1"),  # @measure glued to its numeral (四只)
        ("村口有一担柴", 4, "dan4"),
        ("他们一边聊天一边切西瓜", 8, "qie1"),  # @verb after an adverb (一边)
        ("爷爷准备种辣椒", 4, "zhong4"),
        ("我往墙上钉了一颗钉子", 4, "ding4"),  # @verb before an aspect particle
        ("他用刀切了一块肉", 3, "qie1"),  # cut, before 了, where jieba glues 刀切
        ("小心别烫着", 4, "zhao2"),  # the result complement of harm after a warning
        ("门一直冻着", 4, "zhe5"),  # ... but the aspect particle of a lasting state
        ("他们游过了长江", 3, "guo4"),  # across, before the place crossed
        ("我吃过了", 2, "guo5"),  # the particle
        ("这座桥长两千米", 3, "chang2"),  # long, before a length
        ("妈妈正在盛汤", 4, "cheng2"),  # ladle, before the food (jieba glues 盛汤)
        ("这座桥被命名为彩虹桥", 6, "wei2"),  # 为 'as' after a verb of naming that jieba cut off
        ("合同有效期为两年", 5, "wei2"),  # the copula before a number, no verb after it
        ("我们为两百户家庭修了路", 2, "wei4"),  # 'for': a verb follows
        ("这些问题已为专家所关注", 5, "wei2"),  # the passive 为…所
        ("他们俩一直处得很好", 5, "chu3"),  # get along: the verb before the complement 得
        ("这里的好处很多", 4, "chu4"),  # inside a dictionary word
        ("他用面粉和成了面团", 4, "huo2"),  # knead: 和 + a result complement + the dough
        ("我和成都的朋友见面", 1, "he2"),  # the conjunction
        ("你感冒了,得好好休息", 5, "dei3"),  # must, opening a clause
        ("她把铅笔削尖了", 4, "xiao1"),  # pare, before a result complement
        ("公司削减了开支", 2, "xue1"),  # the compound keeps xuē
        ("他吐了一口血", 5, "xie3"),  # 血 as a word of its own
        ("医生量了他的血压", 6, "xue4"),  # inside a compound
        ("把画钉在墙上", 2, "ding4"),  # @verb before 在 and a place
        ("他在商场里转了一下午", 5, "zhuan4"),  # stroll for a time
        ("他把一个盒子当凳子用", 6, "dang4"),  # 当 X 用
        ("当我用手机的时候", 0, "dang1"),  # 当…的时候
        ("每周一开例会", 2, "yi1"),  # Monday
        ("每周一次", 2, "yi2"),  # the count: sandhi before 次
        ("他背着父母偷偷去了北京", 1, "bei4"),  # behind one's back
        ("他背着书包去上学", 1, "bei1"),  # carry
        ("他从来没有失败过", 7, "guo5"),  # the experiential particle closing a clause after a verb
        ("考试他差一点没过", 7, "guo4"),  # the verb after 没: no particle stands there
        ("这件衣服我只穿过一次", 7, "guo5"),  # the particle before a count of times
        ("雨不停地下着", 3, "de5"),  # the particle after 不停, where jieba glues 地下
        ("这栋楼有二十一层", 6, "yi1"),  # the units digit after 十, jieba cuts 二十|一层
        ("她的厨艺在村里数一数二", 8, "yi1"),  # 一 set against 二 in an idiom, though a phrase fixes 数一数
        ("涨幅约为百分之一点二", 7, "yi1"),  # before a decimal point and a digit
        ("一点一点地进步", 0, "yi4"),  # 'little by little' keeps the sandhi
        ("放假了可以睡睡懒觉", 6, "shui5"),  # V|VX: the verb said twice before its object, cut apart
        ("老师让我们问问题", 6, "wen4"),  # 问|问题 is not a reduplication
        ("他每天都去河边钓钓鱼", 8, "diao5"),  # AAB that jieba tags as an idiom
        ("这件事要想想清楚", 4, "xiang2"),  # 想想 xiángxiang: the repeat neutral, the third tone rising
        ("门上的把手坏了", 4, "shou5"),  # the noun 把手
        ("请把手放在桌上", 2, "shou3"),  # 把|手
        ("他的思想很开通", 6, "tong5"),  # open-minded, after a degree adverb
    ],
)
def test_default_mode_reads_the_context(text: str, index: int, reading: str) -> None:
    assert _pinyin(text)[index] == reading


def test_over_phrase_rows_read_where_the_phrase_table_fixed_the_reading() -> None:
    rules = parse_rules(["长\tzhang3\tover_phrase left=年纪最", "长\tchang2\tleft=很"], "t")
    assert rules["长"][0].needs_word is False  # the flag asks for no jieba words
    assert context_reading("年纪最长", 3, rules=rules) == "zhang3"
    assert context_reading("年纪最长", 3, rules=rules, over_phrase=True) == "zhang3"
    assert context_reading("很长", 1, rules=rules) == "chang2"
    assert context_reading("很长", 1, rules=rules, over_phrase=True) is None  # an unflagged row yields
    # in the pipeline: the phrase table reads 最长 and 好处 (after a degree word, the noun), a flagged row
    # reads them in their constructions; without the construction the phrase stands
    assert _pinyin("爷爷在村里年纪最长")[8] == "zhang3"
    assert _pinyin("这条路最长")[4] == "chang2"
    assert _pinyin("这个人很好处")[5] == "chu3"
    assert _pinyin("这样做有好处")[5] == "chu4"


@pytest.mark.parametrize(
    ("text", "index", "reading"),
    [
        ("他一分钱都没还过", 6, "huan2"),  # give back, 没还过
        ("房租我实在还不上了", 5, "huan2"),  # a potential complement after talk of money
        ("他还不上班", 1, "hai2"),  # the adverb before 不上班
        ("他们俩正在处对象", 5, "chu3"),  # go out with
        ("他数来数去总是少一张", 1, "shu3"),  # V来V去
        ("他数次拒绝了邀请", 1, "shu4"),  # several
        ("他应朋友的邀请去了云南", 1, "ying4"),  # in response to
        ("我们应满足客户的要求", 2, "ying1"),  # the modal before a verb
        ("每只鸡蛋都要检查", 1, "zhi1"),  # the measure after 每
        ("那只会让事情更糟", 1, "zhi3"),  # the adverb, though the phrase table reads 那只
        ("她生性好静", 3, "hao4"),  # be given to, after an adverb of disposition
        ("她穿着一条长裙", 5, "chang2"),  # long, of clothes
        ("年轻人要多长点本事", 5, "zhang3"),  # gain, though the phrase table reads 多长
        ("老师调走以后", 2, "diao4"),  # transfer
        ("两个班的考试时间重了", 8, "chong2"),  # clash
        ("他一个人守到了三更才回去", 8, "geng1"),  # a night watch
        ("这两句诗前后相属", 7, "zhu3"),  # follow one another
    ],
)
def test_round_11a_reads_polyphones_by_their_syntactic_role(text: str, index: int, reading: str) -> None:
    assert _pinyin(text)[index] == reading


def test_compat_mode_never_reads_the_table() -> None:
    assert _pinyin("他姓曾", reference_compat=True)[2] == "ceng2"
