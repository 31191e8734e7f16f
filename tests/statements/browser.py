"""Headless Chromium (Debian's ``chromium``) for tests: the DOM after a page's script ran, screenshots.

Run as root, so ``--no-sandbox``; the background-networking flags keep Chromium from calling
home (the machine has no network); every run gets a fresh profile. ``--virtual-time-budget``
lets the page's asynchronous checks finish before the DOM is dumped.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
    "--hide-scrollbars",
)
VOID = frozenset({"meta", "link", "br", "hr", "img", "input", "wbr", "source", "col", "area", "base"})


def chromium() -> str:
    """The browser binary; a test that needs it fails (never skips) without it."""
    found = shutil.which("chromium")
    assert found, "chromium is not installed: run `make setup` (deploy/setup/debian.sh installs it)"
    return found


def run_chromium(url: str, *extra: str, budget_ms: int = 30_000) -> str:
    """Load ``url`` in a fresh headless Chromium with ``extra`` flags; its standard output."""
    with tempfile.TemporaryDirectory(prefix="chromium-") as profile:
        command = [
            chromium(),
            *FLAGS,
            f"--user-data-dir={profile}",
            f"--virtual-time-budget={budget_ms}",
            *extra,
            url,
        ]
        done = subprocess.run(command, capture_output=True, text=True, timeout=180, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def dump_dom(path: Path, fragment: str = "") -> Dom:
    """The page's DOM after its script ran."""
    return Dom.parse(run_chromium(path.resolve().as_uri() + fragment, "--dump-dom"))


def screenshot(path: Path, out: Path, *, width: int = 412, height: int = 1400) -> None:
    """A PNG of the page as a phone-sized window shows it, after its script ran."""
    run_chromium(path.resolve().as_uri(), f"--screenshot={out}", f"--window-size={width},{height}")
    assert out.is_file() and out.stat().st_size > 1000


@dataclass
class Element:
    """An element with an ``id`` or ``data-*`` attributes: its attributes and its text."""

    tag: str
    attrs: dict[str, str]
    text: list[str] = field(default_factory=list)
    children: list[Element] = field(default_factory=list)

    @property
    def content(self) -> str:
        """Its text, whitespace collapsed."""
        return " ".join("".join(self.text).split())

    def find(self, **attrs: str) -> Element | None:
        """The first descendant with these attribute values (``data_role`` for ``data-role``)."""
        wanted = {k.replace("_", "-"): v for k, v in attrs.items()}
        for child in self.children:
            if all(child.attrs.get(k) == v for k, v in wanted.items()):
                return child
            found = child.find(**attrs)
            if found is not None:
                return found
        return None


class Dom(HTMLParser):
    """A small tree of the dumped DOM (enough to read verdicts and texts)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Element("#root", {})
        self.stack = [self.root]
        self.by_id: dict[str, Element] = {}

    @classmethod
    def parse(cls, text: str) -> Dom:
        """Parse a dumped DOM."""
        dom = cls()
        dom.feed(text)
        return dom

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, {k: v or "" for k, v in attrs})
        self.stack[-1].children.append(element)
        if "id" in element.attrs:
            self.by_id[element.attrs["id"]] = element
        if tag not in VOID:
            self.stack.append(element)

    def handle_endtag(self, tag: str) -> None:
        for i in range(len(self.stack) - 1, 0, -1):
            if self.stack[i].tag == tag:
                del self.stack[i:]
                return

    def handle_data(self, data: str) -> None:
        for element in self.stack[1:]:
            element.text.append(data)

    def body(self) -> Element:
        """The body element."""
        return next(e for e in self.iter() if e.tag == "body")

    def iter(self) -> list[Element]:
        """Every element, in document order."""
        out: list[Element] = []

        def walk(element: Element) -> None:
            for child in element.children:
                out.append(child)
                walk(child)

        walk(self.root)
        return out

    def entries(self) -> dict[int, Element]:
        """The entry elements by seq."""
        return {int(e.attrs["data-seq"]): e for e in self.iter() if "data-seq" in e.attrs}
