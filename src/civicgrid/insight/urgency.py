"""How urgent a message reads, and why: word lists for threats, danger to life and
property, vulnerable people, anger and time pressure. Each kind found adds its weight
(combined as independent chances, 1 − Π(1 − w)), so a threat alone is urgent, a danger is
urgent when children or old people are exposed or the writer is angry, anger alone is not.
A word right after a negation (没有, 不, 无, 未) does not count: "没有安全隐患" is calm."""

from __future__ import annotations

from dataclasses import dataclass

from civicgrid.cases.ports import Urgency
from civicgrid.insight.sentiment import LexiconSentiment


@dataclass(frozen=True)
class Kind:
    name: str
    weight: float
    words: tuple[str, ...]


def _kind(name: str, weight: float, words: str) -> Kind:
    return Kind(name, weight, tuple(words.split()))


KINDS: tuple[Kind, ...] = (
    _kind(
        "threat",
        0.7,
        "跳楼 自杀 轻生 同归于尽 报复社会 拼命 寻死 不想活 以死 砍人 杀人 持刀 打人 殴打 "
        "围堵 聚集 拉横幅 集体上访 进京 上访",
    ),
    _kind(
        "danger",
        0.5,
        "火灾 起火 着火 失火 爆炸 漏气 燃气泄漏 煤气 坍塌 倒塌 塌陷 触电 漏电 电线裸露 溺水 "
        "落水 坠落 高空坠物 井盖缺失 危房 裂缝 塌方 滑坡 洪水 内涝 中毒 食物中毒 传染 疫情 "
        "安全隐患 危险 生命安全 人身安全 受伤 死亡",
    ),
    _kind(
        "vulnerable",
        0.25,
        "老人 老年人 孤寡 独居 儿童 小孩 孩子 学生 幼儿 婴儿 孕妇 残疾 残障 病人 患者 低保 "
        "困难群众",
    ),
    _kind(
        "anger",
        0.2,
        "愤怒 气愤 忍无可忍 无法忍受 欺人太甚 投诉无门 求助无门 强烈要求 强烈谴责 太过分 "
        "岂有此理 不作为 草菅人命 寒心 绝望 走投无路 ！！",
    ),
    _kind("time", 0.15, "紧急 十万火急 马上 立即 立刻 随时 刻不容缓 尽快 火速"),
)
NEGATIONS = ("没有", "不", "无", "未", "没")


class LexiconUrgency:
    """Implements cases' UrgencyScorer port: urgency from these word lists, the tone from
    insight.sentiment."""

    def __init__(self, kinds: tuple[Kind, ...] = KINDS) -> None:
        self.kinds = kinds
        self.sentiment = LexiconSentiment()

    def score(self, text: str) -> Urgency:
        calm = 1.0
        reasons: list[str] = []
        for kind in self.kinds:
            found = [w for w in kind.words if _said(text, w)]
            if found:
                calm *= 1 - kind.weight
                reasons.extend(w for w in found if not any(w in r for r in reasons))
        tone = self.sentiment.score(text)
        return Urgency(round(1 - calm, 3), tuple(reasons), tone.score, tone.label, tone.words)


def _said(text: str, word: str) -> bool:
    start = text.find(word)
    while start >= 0:
        before = text[max(0, start - 2) : start]
        if not any(before.endswith(n) for n in NEGATIONS):
            return True
        start = text.find(word, start + 1)
    return False
