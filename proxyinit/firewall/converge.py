"""Observe -> plan -> commit, per family, through one Backend. The only place that sequences them."""

from __future__ import annotations

from proxyinit.errors import RuntimeFailure
from proxyinit.firewall.model import Desired, Family, Observed, Plan
from proxyinit.firewall.planner import plan_clean, plan_family
from proxyinit.firewall.render import render_family
from proxyinit.firewall.rules import desired_for, families
from proxyinit.firewall.state import parse_observed
from proxyinit.settings import RedirectSettings

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing
if TYPE_CHECKING:
    from collections.abc import Callable

    from proxyinit.firewall.backends.protocol import Backend


def observe(backend: Backend, family: Family, required: bool) -> Observed:
    """Observed state; for a family we are not asked to manage, an unusable stack reads as empty."""
    try:
        return parse_observed(backend.observe(family), family)
    except RuntimeFailure:
        if required:
            raise
        return Observed(family)


def plan_apply(settings: RedirectSettings, backend: Backend) -> Plan:
    """With IPv6 off, any IPv6 rules of ours left by an earlier run are planned away."""
    wanted = families(settings)
    plans = []
    for family in Family:
        desired = desired_for(settings, family) if family in wanted else Desired(family)
        plans.append(plan_family(desired, observe(backend, family, required=family in wanted)))
    return Plan(tuple(plans))


def plan_clean_all(backend: Backend) -> Plan:
    return Plan(tuple(plan_clean(observe(backend, f, required=f is Family.IPV4)) for f in Family))


def commit(plan: Plan, backend: Backend) -> None:
    """IPv6 first: it is the family a kernel or image is likely to refuse (no ip6 nat), and a
    refusal there must leave IPv4 untouched. Each family is still its own transaction."""
    if not plan.empty:
        backend.commit(tuple(sorted(plan.families, key=lambda fp: fp.family is Family.IPV4)))


COMMIT_ATTEMPTS = 3


def converge(make_plan: Callable[[], Plan], backend: Backend) -> Plan:
    """Plan and commit. A plan is a compare-and-swap on the state it was made from (planner.py),
    so a commit refused because another writer changed the namespace meanwhile is re-planned on
    a fresh observation, a bounded number of times. A refusal while the state stays the same is
    a real error, raised at once. Returns the plan that was committed (empty: nothing to do)."""
    plan = make_plan()
    for attempt in range(1, COMMIT_ATTEMPTS + 1):
        try:
            commit(plan, backend)
            return plan
        except RuntimeFailure:
            fresh = make_plan()
            if fresh == plan or attempt == COMMIT_ATTEMPTS:
                raise
            plan = fresh
    return plan


def status(settings: RedirectSettings, backend: Backend) -> tuple[str, str]:
    """('match'|'drift'|'absent', report listing our rules and what apply would change).

    absent = nothing of ours anywhere; drift = something of ours, but not exactly the plan.
    """
    wanted = families(settings)
    lines: list[str] = []
    in_sync, nothing_ours = True, True
    for family in Family:
        observed = observe(backend, family, required=family in wanted)
        desired = desired_for(settings, family) if family in wanted else Desired(family)
        plan = plan_family(desired, observed)
        ours = [*observed.jumps, *(line for rules in observed.chains.values() for line in rules)]
        in_sync, nothing_ours = in_sync and plan.empty, nothing_ours and observed.empty
        state = "in sync" if plan.empty else "differs from the plan"
        lines.append(
            f"# {family.value}: {state}; {len(ours)} rules of ours (backend {backend.name})"
        )
        lines.extend(ours)
        lines.extend("#   would commit: " + text for text in render_family(plan).splitlines())
    verdict = "match" if in_sync else ("absent" if nothing_ours else "drift")
    return verdict, "\n".join([f"# status: {verdict}", *lines]) + "\n"
