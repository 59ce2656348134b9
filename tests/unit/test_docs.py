"""The docs cannot drift from the code: every file they name exists, and every count of proven
refusals they quote is the number of cases the test that proves them runs."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# Names in prose that are examples of what a user or a test writes, not files of this repository.
EXAMPLES = {
    "fleet_broken.py": "the broken DAG file the rollout test writes (docs/dag-rollouts.md quotes its refusal)",
    "fleet_unserializable.py": "the DAG file the rollout test writes that the serializer refuses (docs/dag-rollouts.md)",
    "group_vars/all/vault.yml": "where a user keeps their own vault file",
    "my-fleet/hosts.yml": "the user's copy of the example inventory (README)",
}
# A file name in prose: a path of words ending in one of the repository's own kinds of file.
FILE_NAME = re.compile(r"(?<![\w/.~$<{*-])((?:[\w.-]+/)*[\w-]+\.(?:py|yml|yaml|md|sh|j2|json|csv))(?![\w.-])")
REFUSALS = re.compile(r"\b(\d+) (?:refusals|bad inputs)\b")


def tracked() -> list[str]:
    return subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True, text=True,
                          check=True).stdout.split()


def prose(path: str) -> str:
    """What a reader reads: a Markdown file whole, the comments of YAML and shell files."""
    text = (ROOT / path).read_text(encoding="utf-8")
    if path.endswith(".md"):
        return text
    return "\n".join(line.split("#", 1)[1] for line in text.splitlines() if "#" in line)


def documents() -> list[str]:
    return [f for f in tracked() if (ROOT / f).is_file()
            and (f.endswith((".md", ".yml", ".yaml", ".sh", ".j2")) or f == ".ci/run")
            and not f.startswith(("tests/output/", ".venv/", ".ansible/"))]


def bad_input_cases() -> int:
    """len(BAD_INPUTS) in tests/bad_inputs.py (the cases the tests run), read without running it."""
    tree = ast.parse((ROOT / "tests/bad_inputs.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "BAD_INPUTS" for t in node.targets):
            return len(node.value.elts)
    raise AssertionError("BAD_INPUTS not found in tests/bad_inputs.py")


def test_every_file_the_docs_and_comments_name_exists():
    files = set(tracked())
    names = {Path(f).name for f in files}
    missing = {}
    for doc in documents():
        for found in FILE_NAME.finditer(prose(doc)):
            name = found.group(1)
            if name in EXAMPLES:
                continue
            if "/" in name:
                exists = (name in files or any(f.endswith("/" + name) for f in files)
                          or (ROOT / doc).parent.joinpath(name).exists())
            else:
                exists = name in names
            if not exists:
                missing.setdefault(name, []).append(doc)
    assert not missing, f"files named in docs or comments that do not exist: {missing}"


def test_the_test_catalogue_is_written_from_the_tests_as_they_are():
    proc = subprocess.run([sys.executable, str(ROOT / "tests/tools/testing_doc.py"), "--check"], capture_output=True,
                          text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_the_bad_input_tables_have_a_row_per_case_the_tests_run():
    """Each case has a row (some cases run both on the controller and on a host: a row in each table)."""
    cases = {line.split("|")[1].strip() for line in (ROOT / "docs/bad-inputs.md").read_text(encoding="utf-8").splitlines()
             if line.startswith("| ") and not line.startswith("| case |")}
    assert len(cases) == bad_input_cases()


@pytest.mark.parametrize("doc", ["README.md", "CHANGELOG.md", *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "docs").glob("*.md"))])
def test_every_count_of_refusals_quoted_is_the_number_the_tests_prove(doc):
    quoted = [int(n) for n in REFUSALS.findall((ROOT / doc).read_text(encoding="utf-8"))]
    assert all(n == bad_input_cases() for n in quoted), f"{doc} quotes {quoted}; the tests prove {bad_input_cases()}"
