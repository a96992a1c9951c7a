"""The spend guard: what a job will cost, a limit per task and a budget per window, checked before submit.

- **Estimated cost** (US dollars) = price per second of video (by model and resolution) × seconds ×
  number of videos. The default price table below is each vendor's published list price per second
  (Gemini API pricing, https://ai.google.dev/gemini-api/docs/pricing; OpenAI's former sora-2 pricing,
  https://platform.openai.com/docs/pricing); gateways resell at their own prices, so override it: the
  connection extra ``prices`` or the Airflow Variable ``videogen_prices`` (JSON), e.g.
  ``{"veo-3.1-fast": {"*": 0.12, "4k": 0.30}, "seedance-2.0": 0.05}``. Keys are model-name prefixes (the
  longest matching one wins); a value is a price per second, or a dict of prices by resolution with
  ``"*"`` for any other resolution.
- **Limits**: ``max_cost`` per task, and a budget per window (day, week or month, UTC) per ``conn_id``.
  Both are checked before the submit: a job that would exceed them raises :class:`SpendLimitExceeded`
  and nothing is paid. The budget's spending is kept in an Airflow Variable per connection and window
  (``videogen_spend__<conn_id>__<window start>``); a job is reserved there before it is submitted and
  released if the gateway refuses it. Concurrent tasks read and write that Variable without a lock, so
  cap concurrent submissions with an Airflow pool (the batch example does).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from airflow_provider_videogen.exceptions import SpendLimitExceeded

PRICES_VARIABLE = "videogen_prices"
SPEND_VARIABLE_PREFIX = "videogen_spend"

# USD per second of generated video, by model-name prefix; a dict gives prices by resolution ("*": any).
DEFAULT_PRICES: dict[str, float | dict[str, float]] = {
    "veo-3.1-fast": {"*": 0.15, "4k": 0.35},
    "veo-3.1": {"*": 0.40, "4k": 0.60},
    "veo-3.0-fast": 0.15,
    "veo-3.0": 0.40,
    "veo-2": 0.35,
    "sora-2-pro": {"*": 0.30, "1080p": 0.50},
    "sora-2": 0.10,
}
DEFAULT_SECONDS = {"veo": 8, "sora": 4}  # the gateways' own defaults when no duration is asked for
PERIODS = ("day", "week", "month")

__all__ = ["Budget", "CostEstimate", "SpendGuard", "SpendLimitExceeded", "estimate", "price_table"]


@dataclass(frozen=True)
class CostEstimate:
    """The estimate of one job: ``usd`` is None when no price is known for the model."""

    model: str
    resolution: str | None
    seconds: float
    videos: int
    usd_per_second: float | None
    usd: float | None
    price_source: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def price_per_second(model: str, resolution: str | None, table: Mapping[str, Any]) -> float | None:
    """The table's price for ``model`` (longest matching prefix) at ``resolution``; None if unknown."""
    matches = [key for key in table if model.lower().startswith(key.lower())]
    if not matches:
        return None
    price = table[max(matches, key=len)]
    if isinstance(price, Mapping):
        price = price.get(resolution or "*", price.get("*"))
    return float(price) if isinstance(price, (int, float)) and not isinstance(price, bool) else None


def estimate(model: str, *, seconds: float | None, resolution: str | None, videos: int | None,
             table: Mapping[str, Any] | None = None, price_source: str = "default price table") -> CostEstimate:
    """The estimated cost of one job (seconds default to the model family's default clip length)."""
    family = model.lower().split("-", 1)[0]
    clip = float(seconds) if seconds else float(DEFAULT_SECONDS.get(family, 8))
    count = int(videos or 1)
    rate = price_per_second(model, resolution, DEFAULT_PRICES if table is None else table)
    usd = round(rate * clip * count, 4) if rate is not None else None
    return CostEstimate(model, resolution, clip, count, rate, usd, price_source)


def price_table(extra_prices: Any, variable_get: Callable[[str], Any]) -> tuple[Mapping[str, Any], str]:
    """The price table in force: the connection extra ``prices``, else the Variable, else the defaults."""
    for value, source in ((extra_prices, "connection extra 'prices'"),
                          (variable_get(PRICES_VARIABLE), f"Variable {PRICES_VARIABLE!r}")):
        if value in (None, ""):
            continue
        table = json.loads(value) if isinstance(value, str) else value
        if not isinstance(table, Mapping):
            raise SpendLimitExceeded(f"the price table in the {source} must be a JSON object")
        return {**DEFAULT_PRICES, **table}, source
    return DEFAULT_PRICES, "default price table"


@dataclass(frozen=True)
class Budget:
    """At most ``usd`` US dollars per ``period`` (``"day"``, ``"week"`` or ``"month"``, UTC) per connection."""

    usd: float
    period: str = "day"

    @classmethod
    def parse(cls, value: Any) -> Budget | None:
        """``None``, a Budget, a number (per day) or ``{"usd": 50, "period": "day"}``."""
        if value in (None, "", {}):
            return None
        if isinstance(value, Budget):
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return cls(float(value))
        if isinstance(value, Mapping) and value.get("period", "day") in PERIODS:
            try:
                return cls(float(value["usd"]), str(value.get("period", "day")))
            except (KeyError, TypeError, ValueError):
                pass
        raise SpendLimitExceeded(f"budget must be a number of US dollars per day or "
                                 f'{{"usd": 50, "period": "day|week|month"}}, not {value!r}')

    def window_start(self, now: dt.datetime) -> str:
        day = now.astimezone(dt.UTC).date()
        if self.period == "week":
            day -= dt.timedelta(days=day.weekday())
        elif self.period == "month":
            day = day.replace(day=1)
        return day.isoformat()


class SpendGuard:
    """Checks one job against ``max_cost`` and the connection's budget, and books it.

    ``variables`` is an object with ``get(key, default)`` and ``set(key, value)`` (Airflow's ``Variable``).
    """

    def __init__(self, conn_id: str, *, max_cost: float | None, budget: Budget | None, variables: Any,
                 now: Callable[[], dt.datetime] | None = None):
        self.conn_id, self.max_cost, self.budget, self.variables = conn_id, max_cost, budget, variables
        self.now = now or (lambda: dt.datetime.now(dt.UTC))
        self._booked: tuple[str, float] | None = None

    def _key(self) -> str:
        return f"{SPEND_VARIABLE_PREFIX}__{self.conn_id}__{self.budget.window_start(self.now())}"

    def _spent(self, key: str) -> float:
        try:
            return float(json.loads(self.variables.get(key, default='{"usd": 0}'))["usd"])
        except (TypeError, ValueError, KeyError):
            return 0.0

    def reserve(self, cost: CostEstimate) -> None:
        """Refuse the job if it breaks a limit; otherwise book it in the window's spending.

        :raises SpendLimitExceeded: over ``max_cost``, over what is left of the budget, or no price known
            while a limit is set (nothing is submitted).
        """
        if self.max_cost is None and self.budget is None:
            return
        if cost.usd is None:
            raise SpendLimitExceeded(f"no price is known for model {cost.model!r}, so its cost cannot be checked "
                                     f"against max_cost/budget: add it to the connection extra 'prices' or the "
                                     f"Variable {PRICES_VARIABLE!r}")
        if self.max_cost is not None and cost.usd > self.max_cost:
            raise SpendLimitExceeded(f"the job's estimated cost ${cost.usd:.2f} ({cost.videos} x {cost.seconds:g} s "
                                     f"of {cost.model} at ${cost.usd_per_second}/s) exceeds max_cost "
                                     f"${self.max_cost:.2f}; nothing was submitted")
        if self.budget is None:
            return
        key = self._key()
        spent = self._spent(key)
        if spent + cost.usd > self.budget.usd:
            raise SpendLimitExceeded(f"the job's estimated cost ${cost.usd:.2f} would bring {self.conn_id!r} to "
                                     f"${spent + cost.usd:.2f} this {self.budget.period}, over its budget of "
                                     f"${self.budget.usd:.2f}; nothing was submitted")
        self.variables.set(key, json.dumps({"usd": round(spent + cost.usd, 4)}))
        self._booked = (key, cost.usd)

    def release(self) -> None:
        """Give the booked amount back (the gateway refused the job, so nothing is billed)."""
        if self._booked is None:
            return
        key, usd = self._booked
        self.variables.set(key, json.dumps({"usd": round(max(0.0, self._spent(key) - usd), 4)}))
        self._booked = None
