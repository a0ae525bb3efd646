"""What `apply` did, as log lines: the familiar text, or (PROXYINIT_LOG_FORMAT=json) one JSON
object with the backend, families, rules added and removed and the duration."""

from __future__ import annotations

import time

from proxyinit.contract import log, log_json
from proxyinit.firewall.model import OpKind, Plan
from proxyinit.firewall.rules import families
from proxyinit.settings import RedirectSettings


def _ms(started: float) -> float:
    return round((time.monotonic() - started) * 1000, 1)


def _enabled(settings: RedirectSettings) -> list[str]:
    return [family.value for family in families(settings)]


def report_plan(plan: Plan, backend: str, settings: RedirectSettings, started: float) -> None:
    """iptables backends: one line per family, or one JSON summary of every family."""
    per_family = []
    for family_plan in plan.families:
        kinds = [op.kind for op in family_plan.ops]
        per_family.append(
            {
                "family": family_plan.family.value,
                "committed": not family_plan.empty,
                "changes": len(kinds),
                "rules_added": kinds.count(OpKind.APPEND),
                "rules_deleted": kinds.count(OpKind.DELETE_RULE),
                "chains_flushed": kinds.count(OpKind.DECLARE),
                "chains_deleted": kinds.count(OpKind.DELETE_CHAIN),
            }
        )
    if not log_json():
        for item in per_family:
            state = (
                f"committed {item['changes']} changes"
                if item["committed"]
                else "in sync, nothing committed"
            )
            log(f"{item['family']} nat: {state} ({backend})")
        return
    log(
        "applied" if not plan.empty else "in sync, nothing committed",
        event="apply",
        backend=backend,
        families=_enabled(settings),
        committed=not plan.empty,
        rules_added=sum(item["rules_added"] for item in per_family),
        rules_removed=sum(item["rules_deleted"] for item in per_family),
        chains_flushed=sum(item["chains_flushed"] for item in per_family),
        duration_ms=_ms(started),
        tables=per_family,
    )


def report_native(result: dict, settings: RedirectSettings, started: float) -> None:
    from proxyinit.firewall.nft_commands import NAME, TABLE_REF, report_apply

    if not log_json():
        report_apply(result)
        return
    log(
        "applied" if result["committed"] else "in sync, nothing committed",
        event="apply",
        backend=NAME,
        families=_enabled(settings),
        committed=result["committed"],
        rules_added=result["rules"] if result["committed"] else 0,
        rules_removed=result["removed"] if result["committed"] else 0,
        duration_ms=_ms(started),
        table=TABLE_REF,
    )
