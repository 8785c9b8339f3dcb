"""A newcomer's docs are in the repository and true to it: they cite nothing outside it,
their links and paths lead somewhere, and their lists (docs, browser tests, commands) are
complete. test_docs.py checks the API and settings pages against the code."""

from __future__ import annotations

import argparse
import os
import re
from pathlib import Path

import appliance.__main__ as cli

ROOT = Path(__file__).resolve().parents[2]
SKIP = {"node_modules", "build", "data", "test-artifacts"}  # and every .folder
# The team's notes outside the repository, which someone who clones it does not have.
OUTSIDE = re.compile(r"\.\./shared/|\b(design|protocol|style|testing)\.md\b")
LINK = re.compile(r"\]\(([^)\s]+)\)")
TICKED = re.compile(r"`([^`\s]+)`")
# `folder/file`, named from the repository's root or from the page's own folder.
PATH = re.compile(r"[\w-][\w.-]*(?:/[\w.-]+)+/?")
# name.py, store.ts: a source file named without its folder, in backticks or not.
SOURCE_NAME = re.compile(r"(?<![\w/.*-])([\w-]+(?:\.[\w-]+)*\.(?:py|ts|vue|mjs|sh|sql))\b(?!/)")
MIME_TYPE = re.compile(r"(?:application|audio|image|multipart|text|video)/[\w.+-]+")
# Commands run from one machine's checkout: a clone lives anywhere, they run from its root.
MACHINE_PATH = re.compile(r"\bcd /[\w/.-]*")
MODULE_NAME = re.compile(r"(?<![\w/.-])([\w/-]*[A-Za-z_]\w*\.py)\b")


def _repo_files(suffix: str) -> list[Path]:
    """The repository's own files, without dependencies, caches and build output."""
    found = []
    for folder, dirs, files in os.walk(ROOT):
        dirs[:] = [d for d in dirs if d not in SKIP and not d.startswith(".")]
        found += [Path(folder) / f for f in files if f.endswith(suffix)]
    return sorted(found)


def _markdown() -> list[Path]:
    return _repo_files(".md")


def _slug(heading: str) -> str:
    """The anchor GitHub gives a heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    return {
        _slug(line.lstrip("#"))
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.startswith("#")
    }


def test_docs_cite_nothing_outside_the_repository() -> None:
    found = [
        f"{p.relative_to(ROOT)}:{n}: {line.strip()}"
        for p in _markdown()
        for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
        if OUTSIDE.search(line)
    ]
    assert not found, "docs citing files outside the repository:\n" + "\n".join(found)


def test_links_and_paths_in_the_docs_lead_somewhere() -> None:
    """Links, `folder/file` paths and `module.py` names in every Markdown page exist."""
    names = {p.name for p in _repo_files("")}
    broken = []
    for page in _markdown():
        text = page.read_text(encoding="utf-8")
        for target in LINK.findall(text):
            if re.match(r"[a-z]+:", target):
                continue  # https:, mailto:
            file_part, _, anchor = target.partition("#")
            dest = (page.parent / file_part).resolve() if file_part else page
            if not dest.exists():
                broken.append(f"{page.relative_to(ROOT)}: link {target}")
            elif anchor and dest.suffix == ".md" and anchor not in _anchors(dest):
                broken.append(f"{page.relative_to(ROOT)}: no heading for #{anchor}")
        for token in TICKED.findall(text):
            if PATH.fullmatch(token) and _missing_path(page, token):
                broken.append(f"{page.relative_to(ROOT)}: {token}")
        for name in SOURCE_NAME.findall(text):
            if name not in names:
                broken.append(f"{page.relative_to(ROOT)}: {name}")
        for command in MACHINE_PATH.findall(text):
            broken.append(f"{page.relative_to(ROOT)}: `{command}`, a folder of one machine")
    assert not broken, "links or paths that lead nowhere:\n" + "\n".join(broken)


def _missing_path(page: Path, path: str) -> bool:
    """Whether `path`, named in `page`, is a path of ours that does not exist."""
    first = path.split("/")[0]
    if first in SKIP or "/." in path:
        return False  # build output, test artifacts, a git-ignored cache folder
    bases = [base for base in (ROOT, page.parent) if (base / first).is_dir()]
    if not bases:
        return False  # not a path of ours: `STUN/TURN`, `application/json`
    if any((base / path.rstrip("/.")).exists() for base in bases):
        return False
    return not MIME_TYPE.fullmatch(path)  # `image/png`, beside the image/ folder


def test_the_readme_lists_every_doc() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    docs = sorted((ROOT / "docs").glob("*.md"))
    assert docs
    missing = [p.name for p in docs if f"`docs/{p.name}`" not in readme]
    assert not missing, f"docs/ pages missing from README.md's Documentation list: {missing}"


def test_the_browser_suite_readme_describes_every_test_file() -> None:
    readme = (ROOT / "tests" / "e2e" / "README.md").read_text(encoding="utf-8")
    rows = set(re.findall(r"^\| `(test_\w+\.py)` \|", readme, re.MULTILINE))
    files = {p.name for p in (ROOT / "tests" / "e2e").glob("test_*.py")}
    assert files
    assert rows == files, (
        f"tests/e2e/README.md's table lacks {sorted(files - rows)}"
        f" and lists missing files {sorted(rows - files)}"
    )


def test_every_pychat_command_is_documented() -> None:
    parser = cli._parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    commands = sorted(sub.choices)
    assert "serve" in commands
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    doc = cli.__doc__ or ""
    assert [c for c in commands if f"`pychat {c}" not in readme] == []
    assert [c for c in commands if not re.search(rf"\b{re.escape(c)}\b", doc)] == []


def test_module_comments_name_files_that_exist() -> None:
    """A comment or docstring pointing at `something.py` names a file of the repository."""
    names = {p.name for p in _repo_files(".py")}
    broken = []
    for module in sorted((ROOT / "appliance").rglob("*.py")):
        for n, line in enumerate(module.read_text(encoding="utf-8").splitlines(), 1):
            for name in MODULE_NAME.findall(line):
                rel = name.removeprefix("./")
                if "/" not in rel and rel in names:
                    continue
                if any((base / rel).exists() for base in (ROOT, ROOT / "appliance", module.parent)):
                    continue
                broken.append(f"{module.relative_to(ROOT)}:{n}: {name}")
    assert not broken, "comments naming files that do not exist:\n" + "\n".join(broken)
