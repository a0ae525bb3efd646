"""apply / plan / status / clean with the native nftables backend (`--backend nftables`).

Converging is simple here: the desired table is compared with the observed one, and any
difference replaces the whole table in one `nft -f` transaction (sets included), so a re-run
in sync commits nothing and drift is repaired at once. Never mixed with our iptables rules:
with both, the first nat hook to translate a connection wins and the other set is dead code.
"""

from __future__ import annotations

from proxyinit.errors import RuntimeFailure
from proxyinit.firewall.backends import nftables, tables
from proxyinit.firewall.backends.restore import stop
from proxyinit.firewall.backends.select import survey
from proxyinit.firewall.nft_rules import (
    TABLE_REF,
    delete_script,
    normalize,
    render_table,
    replace_script,
)
from proxyinit.firewall.state import parse_observed
from proxyinit.settings import RedirectSettings

NAME = nftables.NAME


def refuse_iptables_rules(found_nf=tables.UNREAD) -> None:
    """Our chains in either iptables variant make an nftables table of ours a second redirect."""
    for variant, texts in survey(found_nf).items():
        for family, text in texts.items():
            if text and not parse_observed(text, family).empty:
                raise RuntimeFailure(
                    f"--backend {NAME} would mix backends: this namespace has proxyinit's "
                    f"iptables-{variant} rules ({family.value}); remove them first with "
                    f"`proxyinit --backend {variant} clean`"
                )


def refuse_native_table(backend: str, found_nf=tables.UNREAD) -> None:
    """The other way round: an iptables backend while our nftables table exists."""
    if nftables.present(found_nf):
        raise RuntimeFailure(
            f"--backend {backend} would mix backends: this namespace has proxyinit's nftables "
            f"table ({TABLE_REF}); remove it first with `proxyinit --backend {NAME} clean`"
        )


def in_sync(settings: RedirectSettings, observed: str | None, desired: str | None = None) -> bool:
    if observed is None:
        return False
    return normalize(observed) == normalize(desired or render_table(settings))


def plan_text(
    settings: RedirectSettings, desired: str | None = None, found_nf=tables.UNREAD
) -> tuple[str, str | None]:
    """(the nft script apply would commit, or "" when in sync; the observed table).
    `desired`: render_table(settings) if the caller has it already (it is ~2 ms at N=1,000);
    `found_nf`: the kernel's table listing, if the caller has read it (tables.py)."""
    desired = desired or render_table(settings)
    observed = nftables.observe(found_nf)
    if in_sync(settings, observed, desired):
        return "", observed
    return replace_script(desired, observed is not None), observed


def apply(settings: RedirectSettings, found_nf=tables.UNREAD) -> dict:
    """Converge; what was done, for the log line (and the JSON log)."""
    found_nf = tables.nf_tables_once(found_nf)  # one listing for the refusal and the compare
    committer = nftables.start_commit()  # unfed until the script is known (start_commit)
    try:
        refuse_iptables_rules(found_nf)
        desired = render_table(settings)
        script, observed = plan_text(settings, desired, found_nf)
        if script:
            nftables.commit(script, committer)
    finally:
        stop([committer])  # in sync or refused: killed before it read a line
    return {
        "committed": bool(script),
        "replaced": observed is not None and bool(script),
        "rules": _count_rules(desired),
        "removed": _count_rules(observed or ""),
    }


def _count_rules(text: str) -> int:
    # Every rule of ours carries its proxyinit/ tag; set and chain declarations do not.
    return text.count('comment "proxyinit/')


def report_apply(result: dict) -> None:
    state = (
        f"committed ({'replaced the table' if result['replaced'] else 'created the table'})"
        if result["committed"]
        else "in sync, nothing committed"
    )
    from proxyinit.contract import log

    log(f"{TABLE_REF}: {state} ({NAME})")


def plan(settings: RedirectSettings) -> str:
    script, _ = plan_text(settings)
    header = f"# {TABLE_REF} via {NAME}: " + (
        "one transaction" if script else "in sync, nothing to commit"
    )
    return header + "\n" + script


def status(settings: RedirectSettings) -> tuple[str, str]:
    observed = nftables.observe()
    if observed is None:
        verdict = "absent"
    else:
        verdict = "match" if in_sync(settings, observed) else "drift"
    lines = [f"# status: {verdict}", f"# {TABLE_REF}: backend {NAME}"]
    lines += (observed or "").splitlines()
    if verdict != "match":
        script = replace_script(render_table(settings), observed is not None)
        lines += ["#   would commit: " + line for line in script.splitlines()]
    return verdict, "\n".join(lines) + "\n"


def clean() -> bool:
    """Remove our table; True if there was one."""
    if nftables.observe() is None:
        return False
    nftables.commit(delete_script())
    return True
