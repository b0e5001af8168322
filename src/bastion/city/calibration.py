"""What a synthetic city is calibrated on: China's 2020 census and the seed cities (DOMAIN.md).

Data, not code: every figure here is a default that a generation run reports back.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Family households by size, 2020 census (第七次全国人口普查, 家庭户规模): 1..8+ persons.
HOUSEHOLD_SIZE_SHARES = (0.2539, 0.2968, 0.2099, 0.1317, 0.0619, 0.0283, 0.0101, 0.0074)

SURNAMES = "".join(
    (
        "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈",
        "姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤",
    )
)
GIVEN = (
    "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚桂华玉萍红建文辉鹏飞宇浩然子涵欣怡雨轩梓萱思琪晨阳博文"
    "佳琪一诺俊杰梦瑶海燕志强春梅秋菊国庆建国建军淑珍凤英秀兰德明成林家豪雅婷诗涵浩宇嘉怡"
)
PLACE_SYLLABLES = "锦青金武成龙新双华温郫彭邛崇简都江源泉桂花玉林望晴和平安康福乐民兴东南西北翠湖光明阳春柳荷"
COMPOUND_SUFFIXES = ("小区", "花园", "苑", "家园", "院", "公寓", "新村")
VOLUNTEER_SKILLS = ("driving", "first_aid", "sampling", "translation", "lifting", "elder_care", "logistics")


@dataclass(frozen=True)
class BuildingType:
    name: str
    floors: int
    units: int
    per_floor: int
    share: float
    buildings_per_compound: tuple[int, int]
    shared_facilities: bool = False

    @property
    def households(self) -> int:
        return self.floors * self.units * self.per_floor


@dataclass(frozen=True)
class Calibration:
    household_size_shares: tuple[float, ...] = HOUSEHOLD_SIZE_SHARES
    # The seed cities: Chengdu ≈ 21 M residents in 9,310 communities, ~30,000 grids, 20 districts.
    residents_per_community: int = 2_250
    grids_per_community: float = 3.2
    communities_per_subdistrict: int = 36
    communities_per_district: int = 465
    max_districts: int = 20
    # Share of one-person households whose person is elderly (gives ≈ 14 % of elderly living alone).
    elderly_share_of_singles: float = 0.32
    # Share of heads of larger households who are 60 or over (gives ≈ 18.7 % elderly, 2020 census).
    elderly_share_of_heads: float = 0.21
    pregnant_share_of_women_20_40: float = 0.045
    disabled_share_young: float = 0.03
    disabled_share_elderly: float = 0.12
    dialysis_share: float = 0.0006
    chemotherapy_share: float = 0.002
    other_treatment_share_elderly: float = 0.02
    cannot_order_online_elderly_alone: float = 0.7
    cannot_order_online_elderly: float = 0.35
    cannot_order_online_other: float = 0.01
    volunteers_per_resident: float = 139_300 / 21_000_000
    community_workers_per_community: int = 5
    centre: tuple[float, float] = (30.66, 104.06)
    building_types: tuple[BuildingType, ...] = field(
        default_factory=lambda: (
            BuildingType("courtyard", 1, 1, 12, 0.06, (1, 1), shared_facilities=True),
            BuildingType("walk-up", 6, 2, 2, 0.44, (2, 10)),
            BuildingType("mid-rise", 11, 2, 4, 0.30, (2, 6)),
            BuildingType("high-rise", 18, 2, 4, 0.15, (1, 4)),
            BuildingType("tower", 33, 2, 4, 0.05, (1, 3)),
        )
    )
