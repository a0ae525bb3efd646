"""`iptables-restore --noflush --wait` (legacy or nft variant): one process, one commit per family."""

from __future__ import annotations

from proxyinit.errors import RuntimeFailure
from proxyinit.firewall.backends.spawn import Child, which
from proxyinit.firewall.backends.spawn import start as spawn
from proxyinit.firewall.model import BUILTIN_CHAINS, Family, FamilyPlan
from proxyinit.firewall.render import render_family
from proxyinit.firewall.state import nat_section

WAIT_SECONDS = "10"  # --wait: queue behind another writer holding the xtables lock, bounded


def tool(variant: str, family: Family, verb: str) -> str:
    """e.g. ("nft", IPV6, "restore") -> /usr/sbin/ip6tables-nft-restore (shutil.which, minus
    the import cost of shutil)."""
    prefix = "iptables" if family is Family.IPV4 else "ip6tables"
    name = f"{prefix}-{variant}-{verb}"
    path = which(name)
    if path is not None:
        return path
    raise RuntimeFailure(f"{name} not found on PATH (install the iptables package)")


def start(argv: list[str], preexec_fn=None) -> Child:
    """Start a tool with pipes on all three streams; finish() gives it its input."""
    try:
        return spawn(argv, before_exec=preexec_fn)
    except OSError as err:
        raise RuntimeFailure(f"{argv[0]}: {err.strerror or err}") from None


def finish(proc: Child, stdin: str | None = None) -> str:
    """Feed `stdin` (None: nothing, end of input), wait, and return stdout or raise."""
    try:
        stdout, stderr = proc.communicate(stdin)
    except OSError as err:  # it could not be executed (spawn reports that here)
        raise RuntimeFailure(f"{proc.args[0]}: {err.strerror or err}") from None
    if proc.returncode != 0:
        detail = (stderr or stdout).strip()
        if "can't open lock file" in detail:  # a read-only /run: say what works instead
            from proxyinit.firewall.lock import LOCKFILE_HINT

            detail = f"{detail} ({LOCKFILE_HINT})"
        raise RuntimeFailure(f"{' '.join(proc.args)} failed (exit {proc.returncode}): {detail}")
    return stdout


def run(argv: list[str], stdin: str | None = None, preexec_fn=None) -> str:
    return finish(start(argv, preexec_fn), stdin)


def stop(procs: list[Child]) -> None:
    """Kill what has not finished: a restore that got no input has committed nothing."""
    for proc in procs:
        if proc.returncode is None:
            proc.kill()
            proc.communicate()


def policy_lines(save_text: str) -> list[str]:
    """`:CHAIN POLICY [packets:bytes]` of nat's built-in chains in `save -c` text. In a
    --noflush restore such a line sets policy and counters and flushes nothing."""
    return [
        line
        for line in nat_section(save_text)
        if line.startswith(":") and line[1:].split()[0] in BUILTIN_CHAINS
    ]


class RestoreBackend:
    def __init__(self, variant: str, observed: dict[Family, str] | None = None) -> None:
        if variant not in ("legacy", "nft"):
            raise ValueError(variant)
        self.variant = variant
        self.name = variant
        # Save text already read by backend selection: used once, then we read afresh.
        self._observed = dict(observed or {})
        self._last: dict[Family, str] = {}  # the latest save text, for policy_lines

    def observe(self, family: Family) -> str:
        if family in self._observed:
            text = self._observed.pop(family)
        else:
            # No `-t nat`: asking for a table creates it (and registers its hooks); listing
            # only the tables that exist changes nothing. A missing nat table observes as empty.
            text = run([tool(self.variant, family, "save"), "-c"])
        self._last[family] = text
        return text

    def restore_text(self, plan: FamilyPlan) -> str:
        """Legacy restore (libiptc) zeroes the built-in chains' policy counters on commit
        unless it is given them: we pass back what we last observed (`-c`). Packets counted
        between that observation and the commit are the only ones lost. nft keeps them."""
        text = render_family(plan)
        if self.variant != "legacy":
            return text
        head, _, rest = text.partition("\n")
        return "\n".join([head, *policy_lines(self._last.get(plan.family, ""))]) + "\n" + rest

    def commit(self, plans: tuple[FamilyPlan, ...]) -> None:
        """In the given order, one restore transaction per family; stop at the first failure.
        All restores start at once, so the next one's exec and start-up overlap the commit
        before it; each gets its text only once the one before it has committed, and a
        failure kills the rest before they read a line. Each restore dies with us: an orphan
        must not commit after a kill -9 (see pdeath)."""
        from proxyinit.firewall.backends.pdeath import preexec_for_child

        preexec = preexec_for_child()
        todo = [plan for plan in plans if not plan.empty]
        procs: list[Child] = []
        try:
            for plan in todo:
                procs.append(start(self._restore_argv(plan.family), preexec))
            for plan, proc in zip(todo, procs, strict=True):
                finish(proc, self.restore_text(plan))
        finally:
            stop(procs)

    def _restore_argv(self, family: Family) -> list[str]:
        return [
            tool(self.variant, family, "restore"),
            "--noflush",
            "--wait",
            WAIT_SECONDS,
            *(["--counters"] if self.variant == "legacy" else []),
        ]
