"""The same fleet and seed give the same plan, byte for byte, before and after any change
that only makes planning faster. The digests are of the plan's JSON with the planning time
zeroed (the one field that depends on the machine); a change that means to alter plans
updates them and says why in its commit."""

from __future__ import annotations

import hashlib

import pytest

from hvroll.planner.build import Targets, plan
from hvroll.planner.model import Plan, Policy, Strategy
from hvroll.synthetic.generate import generate


def digest(result: Plan) -> str:
    summary = result.summary.model_copy(update={"planning_time_s": 0.0})
    text = result.model_copy(update={"summary": summary}).model_dump_json()
    return hashlib.sha256(text.encode()).hexdigest()[:16]


PINNED = {
    Strategy.ROLL_FORWARD: "abe6183db58db01e",
    Strategy.EVACUATE_RETURN: "0da0197b9553e193",
    Strategy.SCHEDULER: "4afff7f3c968bab3",
}


@pytest.mark.parametrize("strategy", list(Strategy))
def test_small_preset_plan_is_pinned(strategy: Strategy) -> None:
    fleet = generate("small", 1)
    targets = Targets(default=fleet.profile_by_name["CPv2"],
                      by_name={"Broadwell": fleet.profile_by_name["CPv2n"]})
    first = plan(fleet, targets, Policy(allow_suspend=True), strategy)
    again = plan(generate("small", 1), targets, Policy(allow_suspend=True), strategy)
    assert digest(first) == digest(again)
    assert digest(first) == PINNED[strategy]
