"""The spend guard: estimates from the price table, the per-task limit and the per-window budget."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from airflow_provider_videogen.exceptions import SpendLimitExceeded
from airflow_provider_videogen.spend import DEFAULT_PRICES, Budget, SpendGuard, estimate, price_table


class Variables:
    """A stand-in for Airflow's Variable API with the same get/set signature (the DAG tests use the real one)."""

    def __init__(self, **values):
        self.values = dict(values)

    def get(self, key, default=None):
        return self.values.get(key, default)

    def set(self, key, value):
        self.values[key] = value


def test_estimate_is_price_times_seconds_times_videos():
    cost = estimate("veo-3.1-fast-generate-preview", seconds=8, resolution="1080p", videos=2)
    assert (cost.usd_per_second, cost.usd) == (0.15, 2.4)
    assert estimate("veo-3.1-generate-preview", seconds=8, resolution="4k", videos=1).usd == 4.8
    assert estimate("veo-3.0-generate-001", seconds=None, resolution=None, videos=None).usd == 3.2  # Veo: 8 s
    assert estimate("seedance-2.0", seconds=5, resolution=None, videos=1).usd is None  # no list price known


def test_the_longest_matching_prefix_wins_and_users_can_override():
    assert estimate("veo-3.1-fast-x", seconds=4, resolution=None, videos=1).usd_per_second == 0.15
    table, source = price_table({"veo-3.1-fast": 0.1, "seedance-2.0": {"*": 0.05}}, lambda key: None)
    assert source == "connection extra 'prices'"
    assert estimate("veo-3.1-fast-x", seconds=4, resolution=None, videos=1, table=table).usd == 0.4
    assert estimate("seedance-2.0-pro", seconds=10, resolution="720p", videos=1, table=table).usd == 0.5
    table, source = price_table(None, lambda key: json.dumps({"wan-2.7": 0.07}))
    assert source == "Variable 'videogen_prices'" and table["veo-3.0"] == DEFAULT_PRICES["veo-3.0"]


def test_max_cost_refuses_before_anything_is_booked():
    variables = Variables()
    guard = SpendGuard("gw", max_cost=1.0, budget=None, variables=variables)
    with pytest.raises(SpendLimitExceeded, match=r"\$3.20.*max_cost \$1.00"):
        guard.reserve(estimate("veo-3.0-generate-001", seconds=8, resolution=None, videos=1))
    guard.reserve(estimate("veo-3.0-fast-generate-001", seconds=4, resolution=None, videos=1))  # $0.60
    assert variables.values == {}


def test_the_budget_books_each_job_refuses_the_one_that_would_exceed_it_and_releases_refused_ones():
    variables = Variables()
    now = dt.datetime(2026, 11, 30, 12, tzinfo=dt.UTC)
    guard = SpendGuard("gw", max_cost=None, budget=Budget(5.0), variables=variables, now=lambda: now)
    job = estimate("veo-3.0-generate-001", seconds=4, resolution=None, videos=1)  # $1.60
    for _ in range(3):
        guard.reserve(job)
    assert json.loads(variables.values["videogen_spend__gw__2026-11-30"]) == {"usd": 4.8}
    with pytest.raises(SpendLimitExceeded, match=r"over its budget of \$5\.00"):
        guard.reserve(job)
    guard.release()  # the last booked job was refused by the gateway: its cost comes back
    assert json.loads(variables.values["videogen_spend__gw__2026-11-30"]) == {"usd": 3.2}
    tomorrow = SpendGuard("gw", max_cost=None, budget=Budget(5.0), variables=variables,
                          now=lambda: now + dt.timedelta(days=1))
    tomorrow.reserve(job)  # a new window starts from zero
    assert json.loads(variables.values["videogen_spend__gw__2026-12-01"]) == {"usd": 1.6}


def test_a_limit_without_a_known_price_is_refused_clearly():
    guard = SpendGuard("gw", max_cost=10.0, budget=None, variables=Variables())
    with pytest.raises(SpendLimitExceeded, match=r"no price is known for model .wan-2\.7."):
        guard.reserve(estimate("wan-2.7", seconds=5, resolution=None, videos=1))


@pytest.mark.parametrize(("value", "expected"), [
    (None, None), (20, Budget(20.0)), ({"usd": 100, "period": "month"}, Budget(100.0, "month")),
])
def test_budget_values(value, expected):
    assert Budget.parse(value) == expected


@pytest.mark.parametrize("value", ["lots", {"usd": 5, "period": "hour"}, {"period": "day"}])
def test_nonsense_budgets_are_refused(value):
    with pytest.raises(SpendLimitExceeded):
        Budget.parse(value)


def test_windows_start_on_the_day_monday_or_first_of_month():
    now = dt.datetime(2026, 11, 26, 23, tzinfo=dt.UTC)  # a Thursday
    assert Budget(1, "day").window_start(now) == "2026-11-26"
    assert Budget(1, "week").window_start(now) == "2026-11-23"
    assert Budget(1, "month").window_start(now) == "2026-11-01"
