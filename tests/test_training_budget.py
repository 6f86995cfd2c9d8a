"""Budgets, hurdle positions, the schedule and the train config: the arithmetic of issue 3."""

from __future__ import annotations

import math

import pytest

from primer_search.errors import ConfigError, PrimerSearchError
from primer_search.training import (
    TRAIN_PRESETS,
    Budget,
    BudgetError,
    BudgetUnit,
    HurdlePlan,
    TrainConfig,
    get_train_preset,
    hurdle_positions,
    parse_budget,
    passes,
)
from primer_search.training.budget import BudgetMeter
from primer_search.training.schedule import WarmupRsqrtDecay, learning_rate_at


@pytest.mark.parametrize(
    "text, unit, amount",
    [
        ("60s", BudgetUnit.SECONDS, 60),
        ("1.5s", BudgetUnit.SECONDS, 1.5),
        ("5m", BudgetUnit.SECONDS, 300),
        ("2min", BudgetUnit.SECONDS, 120),
        ("1h", BudgetUnit.SECONDS, 3600),
        ("7 hours", BudgetUnit.SECONDS, 25_200),
        ("2000steps", BudgetUnit.STEPS, 2000),
        ("1step", BudgetUnit.STEPS, 1),
        ("2ksteps", BudgetUnit.STEPS, 2000),
        ("1Mtokens", BudgetUnit.TOKENS, 1_000_000),
        ("1mtokens", BudgetUnit.TOKENS, 1_000_000),
        ("500k tokens", BudgetUnit.TOKENS, 500_000),
        ("1.5Mtokens", BudgetUnit.TOKENS, 1_500_000),
        ("1e6tokens", BudgetUnit.TOKENS, 1_000_000),
        ("4096tokens", BudgetUnit.TOKENS, 4096),
    ],
)
def test_parse_budget_reads_every_unit(text, unit, amount):
    budget = parse_budget(text)
    assert budget.unit is unit
    assert budget.amount == amount


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("60", "no unit"),
        ("5M", "unknown unit"),  # minutes or millions? refused
        ("10parsecs", "unknown unit"),
        ("", "cannot read"),
        ("-5s", "cannot read"),
        ("0s", "positive"),
        ("0steps", "positive"),
        ("2.5steps", "whole"),
        ("1.5ktokens", None),  # 1500 is whole: accepted
        ("steps", "cannot read"),
    ],
)
def test_parse_budget_errors_name_the_value(text, fragment):
    if fragment is None:
        assert parse_budget(text).amount == 1500
        return
    with pytest.raises(BudgetError) as info:
        parse_budget(text)
    assert fragment in str(info.value)
    assert isinstance(info.value, PrimerSearchError)


def test_budget_round_trips_through_its_text():
    for text in ("60s", "2000steps", "1000000tokens", "1.5s"):
        assert str(parse_budget(text)) == text
    assert parse_budget(Budget.steps(5)) == Budget.steps(5)


def test_meter_reaches_a_point_at_the_first_step_at_or_past_it():
    meter = BudgetMeter(BudgetUnit.TOKENS)
    steps = 0
    while not meter.reached(1000):
        meter.record_step(256, 0.1)
        steps += 1
    assert (steps, meter.tokens) == (4, 1024)  # ceil(1000 / 256) batches
    meter = BudgetMeter(BudgetUnit.STEPS)
    while not meter.reached(32.3):
        meter.record_step(1, 0.0)
    assert meter.steps == 33


def test_hurdle_positions_match_the_paper():
    # PRIMER.md section 4: H = 4 over 7 hours.
    positions = hurdle_positions(25_200, 4)
    assert positions == pytest.approx((812.9, 2438.7, 5690.3, 12193.5), abs=0.05)


@pytest.mark.parametrize("count", [1, 2, 3, 4, 6])
def test_hurdle_positions_follow_the_formula(count):
    total = 1000.0
    positions = hurdle_positions(total, count)
    assert len(positions) == count
    for k, t in enumerate(positions, start=1):
        assert t == pytest.approx(total * (2**k - 1) / (2 ** (count + 1) - 1))
    # Halving: each stretch is twice the previous one, and the last is half the whole budget.
    edges = (0.0, *positions, total)
    stretches = [b - a for a, b in zip(edges, edges[1:], strict=False)]
    for before, after in zip(stretches, stretches[1:], strict=False):
        assert after == pytest.approx(2 * before)


def test_no_hurdles_is_an_empty_plan():
    assert hurdle_positions(100, 0) == ()
    assert len(HurdlePlan.create(Budget.steps(100))) == 0


def test_passing_a_hurdle_means_a_log_ppl_no_worse_than_the_bar():
    # Fitness is a loss: lower is better; a tie passes; no bar always passes.
    assert passes(3.0, 3.5)
    assert passes(3.5, 3.5)
    assert not passes(3.6, 3.5)
    assert passes(100.0, None)


def test_hurdle_plan_rejects_bad_thresholds():
    budget = Budget.steps(100)
    plan = HurdlePlan.create(budget, 2, [4.0, None])
    assert plan.thresholds == (4.0, None)
    with pytest.raises(ConfigError, match="2 thresholds given for 3 hurdles"):
        HurdlePlan.create(budget, 3, [4.0, None])
    with pytest.raises(ConfigError, match="finite"):
        HurdlePlan.create(budget, 1, [math.nan])
    with pytest.raises(ConfigError, match="between 0 and"):
        HurdlePlan.create(budget, -1)


def test_schedule_warms_up_linearly_then_decays_as_rsqrt():
    peak, warmup = 0.01, 100
    assert learning_rate_at(1, peak, warmup) == pytest.approx(peak / warmup)
    assert learning_rate_at(50, peak, warmup) == pytest.approx(peak / 2)
    assert learning_rate_at(100, peak, warmup) == pytest.approx(peak)
    assert learning_rate_at(400, peak, warmup) == pytest.approx(peak / 2)
    schedule = WarmupRsqrtDecay(peak, warmup)
    for step in (1, 37, 100, 101, 2500):
        # Keras passes the number of updates already applied.
        assert float(schedule(step - 1)) == pytest.approx(learning_rate_at(step, peak, warmup))


def test_paper_schedule_is_t5_rsqrt_after_warmup():
    paper = get_train_preset("paper")
    assert (paper.batch_tokens, paper.peak_learning_rate, paper.warmup_steps) == (
        4096,
        0.01,
        10_000,
    )
    for step in (10_000, 20_000, 100_000):
        assert learning_rate_at(step, 0.01, 10_000) == pytest.approx(1 / math.sqrt(step))


@pytest.mark.parametrize("name", sorted(TRAIN_PRESETS))
def test_keras_adafactor_cap_never_binds_for_a_preset(name):
    # Keras's Adafactor applies min(lr, 1/sqrt(step)); the schedule must stay under it.
    preset = TRAIN_PRESETS[name]
    for step in range(1, 4 * preset.warmup_steps, max(1, preset.warmup_steps // 50)):
        rate = learning_rate_at(step, preset.peak_learning_rate, preset.warmup_steps)
        assert rate <= 1 / math.sqrt(step) + 1e-12


def test_train_config_rejects_bad_values():
    with pytest.raises(ConfigError, match="batch_tokens"):
        TrainConfig("x", batch_tokens=0, peak_learning_rate=0.01, warmup_steps=10)
    with pytest.raises(ConfigError, match="peak_learning_rate"):
        TrainConfig("x", batch_tokens=64, peak_learning_rate=math.inf, warmup_steps=10)
    with pytest.raises(ConfigError, match="warmup_steps"):
        TrainConfig("x", batch_tokens=64, peak_learning_rate=0.01, warmup_steps=0)
    config = TrainConfig("x", batch_tokens=100, peak_learning_rate=0.01, warmup_steps=10)
    assert config.rows(seq_len=16) == 6
    assert config.tokens_per_step(seq_len=16) == 96
    with pytest.raises(ConfigError, match="less than one sequence"):
        config.rows(seq_len=128)
    with pytest.raises(ConfigError, match="unknown training preset"):
        get_train_preset("huge")
