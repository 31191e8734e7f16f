"""deploy/Dockerfile lint: multi-stage, pinned bases, non-root runtime, health check, no remote ADD."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = (REPO / "deploy" / "Dockerfile").read_text(encoding="utf-8")


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    joined = re.sub(r"\\\n\s*", " ", DOCKERFILE)
    lines = [
        line.strip() for line in joined.splitlines() if line.strip() and not line.strip().startswith("#")
    ]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line else "") for line in lines]


def stages() -> list[list[tuple[str, str]]]:
    result: list[list[tuple[str, str]]] = []
    for instruction in instructions():
        if instruction[0] == "FROM":
            result.append([])
        if result:
            result[-1].append(instruction)
    return result


def build_args() -> dict[str, str]:
    return dict(arg.split("=", 1) for name, arg in instructions() if name == "ARG" and "=" in arg)


def test_the_image_is_built_in_several_stages() -> None:
    assert len(stages()) >= 2
    runtime = stages()[-1]
    assert any(name == "COPY" and args.startswith("--from=") for name, args in runtime)


def test_every_base_image_is_pinned_to_a_version() -> None:
    for name, args in instructions():
        if name == "FROM":
            image = args.split()[0]
            image = build_args().get(image.strip("${}"), image)
            tag = image.rsplit(":", 1)[-1] if ":" in image else ""
            assert re.search(r"\d", tag) and tag != "latest", image


def test_the_runtime_stage_runs_as_an_unprivileged_user() -> None:
    users = [args for name, args in stages()[-1] if name == "USER"]
    assert users, "no USER in the runtime stage"
    assert users[-1].split(":")[0] not in {"root", "0"}


def test_the_image_has_a_healthcheck_and_an_entrypoint() -> None:
    names = [name for name, _ in stages()[-1]]
    assert "HEALTHCHECK" in names
    assert ("ENTRYPOINT", '["circulo"]') in stages()[-1]


def test_nothing_is_fetched_with_add_and_every_copied_path_exists() -> None:
    for name, args in instructions():
        assert name != "ADD", "use COPY; ADD can fetch URLs and unpack archives"
        if name == "COPY" and not args.startswith("--from="):
            sources = [a for a in args.split() if not a.startswith("--")][:-1]
            for source in sources:
                assert (REPO / source).exists(), source
