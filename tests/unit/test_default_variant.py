"""backends/select.default_variant: what `iptables` means in an image, from its alternatives
link, as os.path.realpath names the file it ends at (without importing os)."""

from __future__ import annotations

import os

from proxyinit.firewall.backends.select import default_variant, link_target


def _layout(tmp_path, variant: str) -> str:
    """Debian's chain: /etc/alternatives/iptables -> /usr/sbin/iptables-<variant> ->
    xtables-<variant>-multi (relative)."""
    sbin, alternatives = tmp_path / "sbin", tmp_path / "alternatives"
    sbin.mkdir(parents=True)
    alternatives.mkdir()
    (sbin / f"xtables-{variant}-multi").write_text("")
    (sbin / f"iptables-{variant}").symlink_to(f"xtables-{variant}-multi")
    (alternatives / "iptables").symlink_to(sbin / f"iptables-{variant}")
    return str(alternatives / "iptables")


def test_the_link_chain_ends_where_realpath_says(tmp_path):
    for variant in ("legacy", "nft"):
        link = _layout(tmp_path / variant, variant)
        assert link_target(link) == os.path.realpath(link)
        assert default_variant((link,)) == variant


def test_a_missing_or_dangling_link_is_skipped(tmp_path):
    legacy = _layout(tmp_path, "legacy")
    dangling = tmp_path / "dangling"
    dangling.symlink_to(tmp_path / "nowhere-legacy")
    assert default_variant((str(tmp_path / "missing"), str(dangling), legacy)) == "legacy"
    assert default_variant((str(dangling),)) == "nft"  # none there: iptables >= 1.8's default


def test_a_link_loop_ends(tmp_path):
    (tmp_path / "a").symlink_to("b")
    (tmp_path / "b").symlink_to("a")
    assert link_target(str(tmp_path / "a")) in (str(tmp_path / "a"), str(tmp_path / "b"))
    assert default_variant((str(tmp_path / "a"),)) == "nft"  # os.path.exists: False
