"""Static data for the demo generator (core/seed.py): one province, its 统筹区, names and templates.

Region codes are real GB/T 2260 codes of 湖南省 (43). The wage figures are **synthetic**: plausible
orders of magnitude, not published values; every parameter row written from them says so in its
``source``. Policy parameters (rates, bounds, interest, 计发月数, tax, transition) come from
DOMAIN.md and hub.rules and cite their document.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

PROVINCE_CODE = "430000"
PROVINCE_NAME = "湖南省"

SYNTHETIC_SOURCE = "演示数据（模拟值，非官方公布数）"


@dataclass(frozen=True, slots=True)
class RegionSpec:
    """A 统筹区 (prefecture-level city). ``id_prefixes`` are the 4-digit code prefixes whose county
    codes may appear in the ID numbers of its people: the city itself and, for people born before
    the city existed, the predecessor 地区 (the address code is the place of first registration)."""

    code: str
    name: str
    area_code: str  # telephone area code
    longitude: Decimal
    latitude: Decimal
    weight: int  # share of the province's insured people, in per mille
    onpost_2014: int  # synthetic annual 在岗职工平均工资 of 2014, yuan
    id_prefixes: tuple[str, ...]


def _r(code: str, name: str, area: str, lon: str, lat: str, weight: int, wage: int, *prefixes: str) -> RegionSpec:
    return RegionSpec(code, name, area, Decimal(lon), Decimal(lat), weight, wage, (code[:4], *prefixes))


REGIONS: tuple[RegionSpec, ...] = (
    _r("430100", "长沙市", "0731", "112.938814", "28.228209", 190, 61200),
    _r("430200", "株洲市", "0731", "113.133853", "27.827986", 70, 50100, "4321", "4390"),
    _r("430300", "湘潭市", "0731", "112.944052", "27.829730", 55, 49300, "4321"),
    _r("430400", "衡阳市", "0734", "112.572018", "26.893368", 95, 46800, "4327"),
    _r("430500", "邵阳市", "0739", "111.467791", "27.238892", 85, 43900, "4326", "4325"),
    _r("430600", "岳阳市", "0730", "113.128958", "29.357120", 75, 47600, "4322"),
    _r("430700", "常德市", "0736", "111.698497", "29.031673", 75, 46200, "4324"),
    _r("430800", "张家界市", "0744", "110.479921", "29.127401", 25, 44300, "4331", "4324"),
    _r("430900", "益阳市", "0737", "112.355042", "28.570066", 55, 44800, "4323"),
    _r("431000", "郴州市", "0735", "113.032067", "25.793589", 60, 47100, "4328"),
    _r("431100", "永州市", "0746", "111.608019", "26.434516", 65, 43500, "4329"),
    _r("431200", "怀化市", "0745", "109.978240", "27.550082", 55, 44100, "4330"),
    _r("431300", "娄底市", "0738", "112.008497", "27.728136", 45, 45200, "4325"),
    _r("433100", "湘西土家族苗族自治州", "0743", "109.739735", "28.314296", 50, 43700),
)

# Yearly nominal growth of average wages (synthetic), by year described.
WAGE_GROWTH: dict[int, Decimal] = {
    2013: Decimal("0.095"), 2014: Decimal("0.090"), 2015: Decimal("0.085"), 2016: Decimal("0.080"),
    2017: Decimal("0.085"), 2018: Decimal("0.090"), 2019: Decimal("0.080"), 2020: Decimal("0.060"),
    2021: Decimal("0.075"), 2022: Decimal("0.050"), 2023: Decimal("0.045"), 2024: Decimal("0.040"),
    2025: Decimal("0.035"),
}  # fmt: skip
DEFAULT_WAGE_GROWTH = Decimal("0.035")
# 全口径 (non-private and private weighted) is below 在岗 (non-private only).
ALL_TO_ONPOST = (Decimal("0.80"), Decimal("0.86"))
# 养老金计发基数 relative to the province's 在岗 average (synthetic).
BENEFIT_TO_ONPOST = Decimal("0.93")

# 记账利率 (DOMAIN.md §1.4). 2014/2015: no published 机关事业 rate found; placeholders.
INTEREST_RATES: dict[int, tuple[Decimal, str]] = {
    2014: (Decimal("0.0300"), "待核实: 省级参数"),
    2015: (Decimal("0.0300"), "待核实: 省级参数"),
    2016: (Decimal("0.0831"), "人社部 财政部 公布的职工基本养老保险个人账户记账利率 (DOMAIN.md §1.4) [T]"),
    2017: (Decimal("0.0712"), "人社部 财政部 公布的职工基本养老保险个人账户记账利率 (DOMAIN.md §1.4) [T]"),
    2018: (Decimal("0.0829"), "人社部 财政部 公布的职工基本养老保险个人账户记账利率 (DOMAIN.md §1.4) [T]"),
    2019: (Decimal("0.0761"), "人社部 财政部 公布的职工基本养老保险个人账户记账利率 (DOMAIN.md §1.4) [T]"),
    2020: (Decimal("0.0604"), "人社部 财政部 公布的职工基本养老保险个人账户记账利率 (DOMAIN.md §1.4) [T]"),
    2021: (Decimal("0.0669"), "人社部 财政部 公布的职工基本养老保险个人账户记账利率 (DOMAIN.md §1.4) [T]"),
    2022: (Decimal("0.0612"), "人社部 财政部 公布的职工基本养老保险个人账户记账利率 (DOMAIN.md §1.4) [T]"),
    2023: (Decimal("0.0397"), "人社部 财政部 公布的职工基本养老保险个人账户记账利率 (DOMAIN.md §1.4) [T]"),
    2024: (Decimal("0.0262"), "人社部 财政部 公布的职工基本养老保险个人账户记账利率 (DOMAIN.md §1.4) [T]"),
    2025: (Decimal("0.0150"), "待核实: 仅见于第三方计算器，未见官方公布 (DOMAIN.md §1.4)"),
}
LATER_INTEREST_SOURCE = "待核实: 尚未公布，暂沿用上年"

SRC_REFORM = "国发〔2015〕2号 第三条、人社部发〔2015〕28号 (DOMAIN.md §1.2)"
SRC_RATE_CUT = "国办发〔2019〕13号《降低社会保险费率综合方案》 (DOMAIN.md §1.2)"
SRC_ANNUITY = "国办发〔2015〕18号《机关事业单位职业年金办法》第四条、第七条 (DOMAIN.md §1.2)"
SRC_BOUNDS = "国发〔2015〕2号: 缴费基数 60%–300% 上年度在岗职工平均工资 (DOMAIN.md §1.3)"
SRC_BOUNDS_2019 = "国办发〔2019〕13号: 以全口径城镇单位就业人员平均工资核定缴费基数上下限 (DOMAIN.md §1.3)"
SRC_LATE_LEGACY = "《社会保险费征缴暂行条例》(1999) 第十三条 日加收2‰，已被社会保险法取代 (DOMAIN.md §1.9)"
SRC_LATE = "《社会保险法》第八十六条 按日加收万分之五 (DOMAIN.md §1.9)"
SRC_PARAM = "统筹区参数 (DOMAIN.md 前言: 统筹区参数画面; §1.4; §1.6; §2.3)"
SRC_DEEMED_INDEX = "视同缴费指数: 省级按职务/职级/职称核定的参数表 (DOMAIN.md §1.6; 示例值，待核实) [G]"

# ya_param rows per region: code → (value, source).
PARAMS: dict[str, tuple[str, str]] = {
    "TRANSITION_COEF": ("0.012", "过渡系数, 省级参数 1.0%–1.4% (DOMAIN.md §1.6) [G]"),
    "INTEREST_METHOD": ("ANNUAL_1083", "劳办发〔1997〕116号 年度计息方法 (DOMAIN.md §1.4)"),
    "CYCLE_START_MONTH": ("7", "社平工资起始月份 (DOMAIN.md 前言 统筹区参数)"),
    "MIN_YEARS": ("15", "养老保险退休需缴费年限 (DOMAIN.md 前言; §1.6)"),
    "ANNUITY_AAE140": ("116", "职业年金险种代码, 无全国统一代码, 可配置 (DOMAIN.md §2.3)"),
    "PAYMENT_DUE_DAY": ("15", "缴费截止日 (演示参数)"),
    "WAGE_DECL_START": ("03-01", "年度缴费工资申报开始 (月-日; 各统筹区经办通知确定, 演示参数)"),
    "WAGE_DECL_END": ("04-30", "年度缴费工资申报截止 (月-日; 各统筹区经办通知确定, 演示参数)"),
    "CERT_VALID_MONTHS": ("12", "待遇资格认证有效期 (月; DOMAIN.md 未规定, 按各地通行做法的假设值) [G]"),
    "CERT_REMIND_DAYS": ("30", "待遇资格认证到期前提醒天数 (DOMAIN.md 未规定, 假设值, 演示参数) [G]"),
    "CERT_GRACE_DAYS": ("60", "待遇资格认证到期后暂停发放前的宽限天数 (DOMAIN.md 未规定, 假设值, 演示参数) [G]"),
}

# aa10 code table rows: (AAA100, AAA102, AAA103).
CODES: tuple[tuple[str, str, str], ...] = (
    ("AAC004", "1", "男"), ("AAC004", "2", "女"),
    ("AAC058", "01", "居民身份证"),
    ("AAC005", "01", "汉族"), ("AAC005", "06", "苗族"), ("AAC005", "12", "侗族"),
    ("AAC005", "13", "瑶族"), ("AAC005", "15", "土家族"), ("AAC005", "03", "回族"),
    ("AAC008", "0", "未参保"), ("AAC008", "1", "正常参保"), ("AAC008", "2", "暂停参保"),
    ("AAC008", "4", "终止参保"),
    ("AAC031", "1", "参保缴费"), ("AAC031", "2", "暂停缴费"), ("AAC031", "3", "终止缴费"),
    ("AAC084", "0", "否"), ("AAC084", "1", "是"),
    ("AAE140", "110", "企业职工基本养老保险"), ("AAE140", "120", "机关事业单位养老保险"),
    ("AAE140", "116", "职业年金"), ("AAE140", "310", "职工基本医疗保险"),
    ("AAB019", "31", "行政机关"), ("AAB019", "32", "党群机关"), ("AAB019", "33", "参照公务员法管理单位"),
    ("AAB019", "51", "教育事业单位"), ("AAB019", "52", "卫生事业单位"), ("AAB019", "53", "科研事业单位"),
    ("AAB019", "54", "文化事业单位"), ("AAB019", "59", "其他事业单位"),
    ("AAB051", "1", "正常参保"), ("AAB051", "2", "暂停参保"), ("AAB051", "3", "注销"),
    ("AAA115", "10", "正常应缴"), ("AAA115", "21", "退收"), ("AAA115", "31", "补收"),
    ("AAA115", "41", "调基补差"),
    ("AAE078", "0", "未到账"), ("AAE078", "1", "已到账"),
    ("FUNDING", "1", "财政全额供款"), ("FUNDING", "2", "财政差额供款"), ("FUNDING", "3", "自收自支"),
    ("COLLECTION", "1", "银行托收"), ("COLLECTION", "2", "税务征收"),
    ("CARD_STATUS", "1", "正常"), ("CARD_STATUS", "2", "挂失"), ("CARD_STATUS", "3", "注销"),
    ("ACCOUNT", "1", "基本养老保险个人账户"), ("ACCOUNT", "2", "职业年金个人账户"),
    ("IC60_METHOD", "NEW", "新办法"), ("IC60_METHOD", "COMPARE", "新老办法对比"),
)  # fmt: skip

# fmt: off
NATIONALITIES: tuple[tuple[str, int], ...] = (
    ("01", 880), ("15", 45), ("06", 35), ("12", 20), ("13", 15), ("03", 5),
)
# fmt: on

# Units ------------------------------------------------------------------------------------------

# (aab019, USCC 机构类别 '11' 机关 / '12' 事业, weight, funding weights for '1','2','3', templates).
# {P} = the place (city or county name), {n} = an ordinal, {t} = a town name.
# fmt: off
UNIT_KINDS: tuple[tuple[str, str, int, tuple[int, int, int], tuple[str, ...]], ...] = (
    ("31", "11", 22, (95, 5, 0), (
        "{P}财政局", "{P}人力资源和社会保障局", "{P}教育局", "{P}公安局", "{P}自然资源和规划局",
        "{P}生态环境局", "{P}住房和城乡建设局", "{P}交通运输局", "{P}农业农村局", "{P}商务局",
        "{P}文化旅游广电体育局", "{P}卫生健康局", "{P}审计局", "{P}统计局", "{P}市场监督管理局",
        "{P}司法局", "{P}民政局", "{P}应急管理局", "{P}水利局", "{P}林业局", "{P}退役军人事务局",
        "{P}医疗保障局", "{P}发展和改革局", "{P}工业和信息化局", "{P}人民政府办公室", "{P}税务局",
        "{P}{t}人民政府",
    )),
    ("32", "11", 8, (100, 0, 0), (
        "中共{P}委员会组织部", "中共{P}委员会宣传部", "中共{P}委员会统一战线工作部",
        "中共{P}委员会政法委员会", "{P}总工会", "共青团{P}委员会", "{P}妇女联合会",
        "{P}人民代表大会常务委员会办公室", "政协{P}委员会办公室", "{P}人民法院", "{P}人民检察院",
        "中共{P}纪律检查委员会",
    )),
    ("33", "12", 6, (90, 10, 0), (
        "{P}档案馆", "{P}机关事务服务中心", "{P}社会保险服务中心", "{P}医疗保障事务中心",
        "{P}供销合作社联合社", "{P}文学艺术界联合会", "{P}科学技术协会",
    )),
    ("51", "12", 30, (70, 30, 0), (
        "{P}第{n}中学", "{P}第{n}小学", "{P}实验学校", "{P}职业中等专业学校", "{P}{t}中心学校",
        "{P}{t}中学", "{P}机关幼儿园", "{P}特殊教育学校", "{P}第{n}幼儿园", "{P}{t}中心小学",
    )),
    ("52", "12", 18, (10, 60, 30), (
        "{P}人民医院", "{P}第{n}人民医院", "{P}中医医院", "{P}妇幼保健院", "{P}疾病预防控制中心",
        "{P}{t}卫生院", "{P}精神卫生中心", "{P}急救中心",
    )),
    ("53", "12", 3, (60, 40, 0), (
        "{P}农业科学研究所", "{P}林业科学研究所", "{P}水产科学研究所", "{P}农业技术推广中心",
    )),
    ("54", "12", 5, (70, 20, 10), (
        "{P}图书馆", "{P}博物馆", "{P}文化馆", "{P}融媒体中心", "{P}群众艺术馆",
    )),
    ("59", "12", 8, (50, 35, 15), (
        "{P}公共资源交易中心", "{P}不动产登记中心", "{P}{t}农业综合服务中心", "{P}城市管理综合执法支队",
        "{P}住房公积金管理中心", "{P}水文水资源勘测中心", "{P}{t}便民服务中心",
    )),
)
# fmt: on

ORDINALS = ("一", "二", "三", "四", "五", "六", "七", "八", "九", "十", "十一", "十二", "十三", "十四",
            "十五", "十六", "十七", "十八", "十九", "二十")  # fmt: skip

TOWN_FIRST = "金石白龙青花云新长东南西北红桃柳枫岭泉湖江河山桥田溪坪塘湾洲荷凤鹤莲竹梅兰松"
TOWN_SECOND = "山坪桥田塘湾冲溪口市源洲岭坡江湖阳水铺岗"
TOWN_SUFFIXES = ("镇", "乡", "街道")

# fmt: off
ROADS = (
    "人民路", "解放路", "五一大道", "建设路", "中山路", "芙蓉路", "韶山路", "湘江路", "迎宾路", "长青路",
    "新华路", "劳动路", "东风路", "红旗路", "文化路", "光明街", "青年路", "车站路", "府前路", "滨江路",
    "学院路", "桂花路", "金星路", "潇湘大道", "沿河路",
)
# fmt: on

# fmt: off
BANKS = (
    "中国工商银行", "中国农业银行", "中国银行", "中国建设银行", "交通银行", "中国邮政储蓄银行",
    "长沙银行", "湖南省农村信用社",
)
# fmt: on
CARD_BANKS = ("中国工商银行", "中国农业银行", "中国银行", "中国建设银行", "中国邮政储蓄银行", "长沙银行")

# 社保卡 识别码: 发卡地区划 + the common "D156000005" infix + 16 hex digits (DOMAIN.md §3.3 [T]).
CARD_ID_INFIX = "D156000005"

# Positions (职务/职级/岗位) with weights by unit family, and the 视同缴费指数 used for the
# transitional pension (DOMAIN.md §1.6: a provincial table by 职务/职级/职称; synthetic here).
# fmt: off
POSITIONS_GOV: tuple[tuple[str, int], ...] = (
    ("科员", 38), ("副科", 24), ("正科", 20), ("副处", 10), ("正处", 5), ("工勤", 3),
)
# fmt: on
POSITIONS_INST: tuple[tuple[str, int], ...] = (
    ("专技初级", 24),
    ("专技中级", 34),
    ("专技副高", 15),
    ("专技正高", 4),
    ("管理岗", 12),
    ("工勤", 11),
)
DEEMED_INDEX: dict[str, Decimal] = {
    "科员": Decimal("1.0000"), "副科": Decimal("1.1000"), "正科": Decimal("1.2000"),
    "副处": Decimal("1.3200"), "正处": Decimal("1.4500"), "工勤": Decimal("0.9000"),
    "专技初级": Decimal("1.0000"), "专技中级": Decimal("1.1200"), "专技副高": Decimal("1.2800"),
    "专技正高": Decimal("1.4200"), "管理岗": Decimal("1.0500"),
}  # fmt: skip
# Women in 工勤 posts retire at 50, other women at 55 (before the 2025 reform).
WORKER_POSITION = "工勤"

# Names ----------------------------------------------------------------------------------------

SURNAMES: tuple[tuple[str, int], ...] = (
    ("王", 720), ("李", 710), ("张", 690), ("刘", 560), ("陈", 540), ("杨", 320), ("黄", 250),
    ("赵", 230), ("吴", 210), ("周", 200), ("徐", 170), ("孙", 160), ("马", 150), ("朱", 140),
    ("胡", 135), ("郭", 130), ("何", 125), ("高", 120), ("林", 115), ("罗", 112), ("郑", 110),
    ("梁", 100), ("谢", 98), ("宋", 92), ("唐", 90), ("许", 88), ("韩", 86), ("冯", 84), ("邓", 82),
    ("曹", 80), ("彭", 78), ("曾", 76), ("肖", 74), ("田", 72), ("董", 70), ("袁", 68), ("潘", 66),
    ("于", 64), ("蒋", 62), ("蔡", 60), ("余", 58), ("杜", 56), ("叶", 54), ("程", 52), ("苏", 50),
    ("魏", 48), ("吕", 46), ("丁", 44), ("任", 42), ("沈", 40), ("姚", 38), ("卢", 36), ("姜", 34),
    ("崔", 32), ("钟", 31), ("谭", 30), ("陆", 29), ("汪", 28), ("范", 27), ("金", 26), ("石", 25),
    ("廖", 24), ("贾", 23), ("夏", 22), ("韦", 21), ("付", 20), ("方", 19), ("白", 18), ("邹", 17),
    ("孟", 16), ("熊", 15), ("秦", 14), ("邱", 13), ("江", 12), ("尹", 11), ("薛", 10), ("闫", 9),
    ("段", 8), ("雷", 8), ("侯", 7), ("龙", 7), ("史", 6), ("黎", 6), ("贺", 6), ("易", 5),
    ("欧阳", 4), ("司马", 1), ("诸葛", 1), ("上官", 1), ("皇甫", 1),
)  # fmt: skip

GIVEN_MALE = "伟强磊军勇杰涛斌超明刚平辉鹏华飞鑫波宇浩凯健俊帆帅旭宁龙林洋峰建国志文博毅"
GIVEN_FEMALE = "芳娜敏静丽艳娟霞燕玲桂英秀兰萍红梅琳雪婷颖倩慧璐琪欣怡佳蕾莉晶"
GIVEN_NEUTRAL = "子晨雨嘉思一欣文明海春晓天立永新泽彦清安方和瑞"

# A handful of people with characters outside the BMP (CJK Ext-B) or in Ext-A, to exercise
# storage, masking and SMS length rules (DOMAIN.md §5: 𠮷 takes two UTF-16 units).
# fmt: off
RARE_NAMES: tuple[tuple[str, str], ...] = (
    ("吉𠮷", "1"), ("刘䶮", "1"), ("张𪚥", "1"), ("陈𠮷宁", "2"), ("黄䶮", "1"), ("王𠮷", "2"),
    ("欧阳𪚥明", "1"),
)
# fmt: on

CONTACT_TITLES = ("办公室", "人事科", "财务科", "组织人事科", "综合科")

# Annuity benefits received before 2019 were taxed in full at the 工资、薪金所得 monthly table of the
# 2011 individual income tax law (财税〔2013〕103号); history rows so that benefits approved before
# 2019 find a table. (lower, upper, rate, quick deduction), amounts in yuan per month. [G]
TAX_BRACKETS_2011_VALID_FROM = (2011, 9, 1)
TAX_BRACKETS_2011_SOURCE = "《个人所得税法》(2011修正) 工资、薪金所得税率表; 财税〔2013〕103号 年金全额计税 [G]"
# fmt: off
TAX_BRACKETS_2011: tuple[tuple[str, str | None, str, str], ...] = (
    ("0", "1500", "0.03", "0"), ("1500", "4500", "0.10", "105"), ("4500", "9000", "0.20", "555"),
    ("9000", "35000", "0.25", "1005"), ("35000", "55000", "0.30", "2755"), ("55000", "80000", "0.35", "5505"),
    ("80000", None, "0.45", "13505"),
)
# fmt: on
