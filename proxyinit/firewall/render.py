"""FamilyPlan -> iptables-restore text (for `--noflush`). Pure.

One `*nat ... COMMIT` block per family: the kernel sees one transaction, or nothing at all.
"""

from __future__ import annotations

from proxyinit.firewall.model import TABLE, FamilyPlan, Op, OpKind, Plan


def render_op(op: Op) -> str:
    if op.kind is OpKind.DECLARE:
        return f":{op.chain} - [0:0]"
    if op.kind is OpKind.DELETE_RULE:
        return f"-D {op.chain} {op.spec}"
    if op.kind is OpKind.DELETE_CHAIN:
        return f"-X {op.chain}"
    if op.kind is OpKind.CREATE:
        return f"-N {op.chain}"
    return f"-A {op.chain} {op.spec}"


def render_family(plan: FamilyPlan) -> str:
    """Restore text for one family, or "" when there is nothing to commit."""
    if plan.empty:
        return ""
    body = [render_op(op) for op in plan.ops]
    return "\n".join([f"*{TABLE}", *body, "COMMIT", ""])


def render_plan(plan: Plan, backend: str = "") -> str:
    """Human-facing form used by `proxyinit plan`: each family's block under a header comment.

    Everything but the `# ` header lines is exactly the restore input `apply` commits.
    """
    parts: list[str] = []
    via = f" via {backend}" if backend else ""
    for family_plan in plan.families:
        text = render_family(family_plan)
        header = f"# {family_plan.family.value}{via}: " + (
            "in sync, nothing to commit" if not text else "one transaction"
        )
        parts.append(header + "\n" + text)
    return "\n".join(parts)
