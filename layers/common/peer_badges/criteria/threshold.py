"""``threshold``: at least N counted activities (optionally of some types, optionally in a window:
all time, the calendar year, or the last N days). One level. Meaning: ``counting``."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import field_validator

from peer_badges.criteria.base import (
    MAX_THRESHOLD,
    ActivityTypes,
    AllTime,
    AnyWindow,
    Problems,
    Threshold,
    Window,
    check_count,
    check_window,
)
from peer_badges.criteria.counting import CountingCriteria


class ThresholdCriteria(CountingCriteria):
    type: Literal["threshold"]
    threshold: Threshold
    activity_types: ActivityTypes | None = None
    window: Window = AllTime()

    @field_validator("window", mode="before")
    @classmethod
    def _null_is_all_time(cls, value: object) -> object:
        return {"kind": "all_time"} if value is None else value

    @property
    def count_window(self) -> AnyWindow:
        return self.window

    def levels(self) -> list[tuple[int, int]]:
        return [(1, self.threshold)]

    @classmethod
    def check_fields(cls, out: Problems, raw: dict[Any, Any]) -> None:
        super().check_fields(out, raw)
        if "threshold" in raw:
            check_count(out, ("threshold",), "Threshold", raw["threshold"], MAX_THRESHOLD)
        check_window(out, ("window",), raw.get("window"))
