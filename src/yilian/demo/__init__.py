"""The Jing-Jin-Ji demo network (京津冀医疗协同演示网络).

The institutions, programmes and figures of the two seed articles: the PKU People's
Hospital Huailai campus and its county medical community, the Beijing Children's
Hospital Baoding hospital, PKU Stomatology, PKU Cancer and Guang'anmen with their Baoding
partners, Tiantan with Hebei University Hospital, and the rest. Curated tables are the CSV
files beside this module; staff are generated deterministically. :func:`load` is
idempotent and returns a :class:`DemoReport` the CLI prints.
"""

from yilian.demo.accounts import DEMO_ACCOUNTS, HUAILAI_CAMPUS, PKU_PEOPLES, DemoAccount
from yilian.demo.loader import MARKER_INSTITUTION, SEED, load
from yilian.demo.report import DemoLogin, DemoReport

__all__ = [
    "DEMO_ACCOUNTS",
    "HUAILAI_CAMPUS",
    "MARKER_INSTITUTION",
    "PKU_PEOPLES",
    "SEED",
    "DemoAccount",
    "DemoLogin",
    "DemoReport",
    "load",
]
