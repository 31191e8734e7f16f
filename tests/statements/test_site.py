"""`statements build`: one page per member at an unguessable, stable path; an index without amounts."""

from __future__ import annotations

import re
from pathlib import Path

import psycopg
import pytest
from tests.statements.conftest import Coop
from tests.statements.site_helpers import build

from circulo.errors import ConfigError, NotFound
from circulo.statements import links
from circulo.statements.page import csp_hash, noble_script
from circulo.statements.site import MARKER

TOKEN_PATH = re.compile(r"[mc]/[0-9a-f]{32}/")


def pages(site: Path) -> dict[str, str]:
    return {str(p.relative_to(site)): p.read_text(encoding="utf-8") for p in site.rglob("*.html")}


def test_each_member_gets_one_page_at_a_path_that_only_the_secret_gives(
    riverside: Coop, tmp_path: Path, secret: bytes
) -> None:
    report = build(riverside, tmp_path / "site", secret)
    (coop,) = report.coops
    assert [a for a, _ in coop.members] == ["alice@riverside", "bob@riverside", "carol@riverside"]
    for account, path in coop.members:
        assert TOKEN_PATH.fullmatch(path)
        assert path == links.member_path(secret, account) != links.member_path(bytes(32), account)
        assert (tmp_path / "site" / path / "index.html").is_file()
    assert TOKEN_PATH.fullmatch(coop.index)
    assert sorted(pages(tmp_path / "site")) == sorted(
        ["index.html", f"{coop.index}index.html", *(f"{p}index.html" for _, p in coop.members)]
    )
    again = build(riverside, tmp_path / "site", secret)
    assert again.coops == report.coops  # the same secret: the same addresses, so bookmarks keep working


def test_the_site_root_and_robots_lead_nowhere(riverside: Coop, tmp_path: Path, secret: bytes) -> None:
    build(riverside, tmp_path / "site", secret)
    root = (tmp_path / "site" / "index.html").read_text(encoding="utf-8")
    assert "<a " not in root and "/m/" not in root
    assert (tmp_path / "site" / "robots.txt").read_text() == "User-agent: *\nDisallow: /\n"


def test_a_members_page_shows_none_of_the_neighbours_data(
    riverside: Coop, tmp_path: Path, secret: bytes
) -> None:
    report = build(riverside, tmp_path / "site", secret)
    by_account = dict(report.coops[0].members)
    carol = (tmp_path / "site" / by_account["carol@riverside"] / "index.html").read_text(encoding="utf-8")
    alice = (tmp_path / "site" / by_account["alice@riverside"] / "index.html").read_text(encoding="utf-8")
    for page in (alice, carol):
        assert "m-alice-roof" not in page and "m-school" not in page  # no meter, no reading
        assert "certificate.issue" not in page and "treasury@" not in page  # never the treasury's record
        assert "meter_hour" not in page and "from_wh" not in page
    assert "alice@riverside" not in carol and "bob@riverside" not in carol
    assert "carol@riverside" not in alice
    # bob appears on alice's page only as the repairer of her own repair (the signed entry names him)
    seen = [m.start() for m in re.finditer("bob@riverside", alice)]
    assert seen and all("repairer" in alice[at - 20 : at] for at in seen)
    assert "11.500000 RCY" in alice and "15.390000 GRN" in alice  # her own settled balances
    assert "10.260000 GRN" not in alice  # carol's


def test_the_coop_index_links_every_member_and_shows_no_amount(
    riverside: Coop, tmp_path: Path, secret: bytes
) -> None:
    report = build(riverside, tmp_path / "site", secret)
    (coop,) = report.coops
    index = (tmp_path / "site" / coop.index / "index.html").read_text(encoding="utf-8")
    hrefs = re.findall(r'<a href="([^"]+)">([^<]+)</a>', index)
    assert hrefs == [(f"../../{path}", account) for account, path in coop.members]
    for href, _account in hrefs:
        assert (tmp_path / "site" / coop.index / href / "index.html").resolve().is_file()
    assert "GRN" not in index and "RCY" not in index and not re.search(r"\d+\.\d{6}", index)


def test_a_page_can_make_no_request_and_run_only_its_own_scripts(
    riverside: Coop, tmp_path: Path, secret: bytes
) -> None:
    report = build(riverside, tmp_path / "site", secret)
    for text in pages(tmp_path / "site").values():
        policy = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', text)
        assert policy is not None
        assert policy.group(1).startswith("default-src 'none'; style-src 'sha256-")
        assert not re.search(r"<(link|img|iframe|object|embed|base)\b|\bsrc=", text)
        assert not re.search(r"href=\"[a-z]+:", text)  # only relative links (the index's)
        assert "url(" not in text and "@import" not in text
    alice = (tmp_path / "site" / report.coops[0].members[0][1] / "index.html").read_text(encoding="utf-8")
    assert csp_hash(noble_script()) in alice


def test_a_rebuild_replaces_the_whole_site_but_never_a_foreign_folder(
    riverside: Coop, tmp_path: Path, secret: bytes
) -> None:
    site = tmp_path / "site"
    build(riverside, site, secret)
    stale = site / "m" / ("0" * 32) / "index.html"  # a former member's page
    stale.parent.mkdir(parents=True)
    stale.write_text("old", encoding="utf-8")
    build(riverside, site, secret)
    assert not stale.exists() and (site / MARKER).is_file()
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary folder left
    foreign = tmp_path / "photos"
    foreign.mkdir()
    (foreign / "cat.jpg").write_bytes(b"\xff\xd8")
    with pytest.raises(ConfigError, match="not empty and not a statements site"):
        build(riverside, foreign, secret)
    assert [p.name for p in foreign.iterdir()] == ["cat.jpg"]


def test_a_ledger_without_a_signed_checkpoint_is_refused_and_nothing_is_written(
    unsigned: Coop, tmp_path: Path, secret: bytes
) -> None:
    with pytest.raises(NotFound, match="no signed checkpoint yet: run `circulo ledger checkpoint`"):
        build(unsigned, tmp_path / "site", secret)
    assert not (tmp_path / "site").exists()
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_one_coops_build_holds_only_its_members(riverside: Coop, tmp_path: Path, secret: bytes) -> None:
    with psycopg.connect(riverside.db_url, autocommit=True) as conn:
        conn.execute("INSERT INTO coop (coop_id, name) VALUES ('hill', 'Hill Co-op')")
        conn.execute("INSERT INTO member (coop_id, account, shares) VALUES ('hill', 'dan@hill', 1)")
    report = build(riverside, tmp_path / "site", secret, coop_id="hill")
    assert [(c.coop_id, [a for a, _ in c.members]) for c in report.coops] == [("hill", ["dan@hill"])]
    assert report.pages == 1
    with pytest.raises(NotFound, match="co-op nowhere is not registered"):
        build(riverside, tmp_path / "other", secret, coop_id="nowhere")
