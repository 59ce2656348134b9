"""Write docs/testing.md from the verifiers themselves: each scenario's hosts (from its molecule.yml),
each test file's docstring, and one line per test, the test's name read as the claim it proves.

    python tests/tools/testing_doc.py          # rewrite docs/testing.md
    python tests/tools/testing_doc.py --check  # exit 1 when docs/testing.md is out of date

tests/unit/test_docs.py runs the check, so a test added, renamed or removed shows in the doc."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "testing.md"
# What each scenario's fleet is (scripts/test.sh runs the cluster first, the single host beside its verify).
SCENARIOS = {
    "default": ("one host running everything, reached over SSH as a sudo user (no pipelining, no ACL tools), "
                "with the collection installed from its built tarball and no ansible.cfg; Airflow installed "
                "offline from a wheelhouse"),
    "cluster": ("a DB/broker host on Debian 13 (with moto as the AWS stand-in), two control hosts, two workers "
                "and a spare, Debian 12 and 13 mixed, TLS and the firewall on; starts on Airflow 3.2.2 and is upgraded"),
}
INTRO = """# What the tests prove

<!-- Written by tests/tools/testing_doc.py from the verifiers; do not edit. -->

`scripts/test.sh` runs, from a fresh machine: bootstrap (Docker engine, debootstrap, Chromium,
the pinned tools), the Debian 12 and 13 images, yamllint, ansible-lint (`production` profile),
shellcheck, the role and docs checks, the unit tests, `ansible-test sanity`, then each molecule
scenario below on real systemd hosts (containers), with the tests that need no fleet (EC2
provisioning against a moto server, the refusals on the controller) beside them. The cluster
runs first; the single host (`default`) starts beside it once the cluster's hosts are converged
(the cluster's tests mostly wait on DAG runs, timeouts and boots, which leaves the CPU to it). Each scenario
runs `converge` and `verify` (the tests listed here, which include `--check --diff` on the
converged fleet, as its last test). Neither has a Molecule `idempotence` step: the cluster's
second run is a test of its own (test_5_scale.py, at `-vvv` with every host's command lines sampled),
after the rollouts, the pipeline runs and a scale-out, which proves more than a run right after
the first converge, and covers the single host's roles too. The PostgreSQL and Redis roles are
proven on Debian 12 (default) and 13 (the cluster's DB/broker host). Every playbook run a test makes has
its output searched for the fleet's secrets. Each scenario has a time limit of its own, and the
command ends with a table of every step's and scenario's seconds against its budget, after the
failed tasks and tests of each scenario that failed. How long each takes: [benchmarks.md](benchmarks.md).

One line per test, its name read as the claim it proves; the file's own summary above its lines.
"""


def cases(node: ast.FunctionDef, lists: dict[str, int]) -> str:
    """" (28 cases)" for a test parametrized over a module-level list of 28."""
    for decorator in node.decorator_list:
        if (isinstance(decorator, ast.Call) and getattr(decorator.func, "attr", "") == "parametrize"
                and len(decorator.args) > 1 and isinstance(decorator.args[1], ast.Name)
                and decorator.args[1].id in lists):
            return f", {lists[decorator.args[1].id]} cases"
    return ""


def tests_of(path: Path) -> tuple[str, list[str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    lists = {target.id: len(node.value.elts) for node in tree.body if isinstance(node, ast.Assign)
             and isinstance(node.value, ast.List) for target in node.targets if isinstance(target, ast.Name)}
    lines = [f"- {node.name[len('test_'):].replace('_', ' ')} (`{node.name}`{cases(node, lists)})"
             for node in tree.body if isinstance(node, ast.FunctionDef) and node.name.startswith("test_")]
    doc = " ".join((ast.get_docstring(tree) or "").split("\n\n")[0].split())
    return doc, lines


def hosts_of(scenario: str) -> str:
    config = yaml.safe_load((ROOT / "molecule" / scenario / "molecule.yml").read_text(encoding="utf-8"))
    return ", ".join(platform["name"] for platform in config.get("platforms", []))


def render() -> str:
    out = [INTRO]
    for scenario, fleet in SCENARIOS.items():
        out.append(f"## `{scenario}`\n\nHosts: {hosts_of(scenario)}: {fleet}.\n")
        for path in sorted((ROOT / "molecule" / scenario / "tests").glob("test_*.py")):
            doc, names = tests_of(path)
            out.append(f"### [{path.name}](../{path.relative_to(ROOT)})\n\n{doc}\n")
            out.extend(names)
            out.append("")
    out.append("## Without a fleet\n")
    for path in sorted((ROOT / "tests" / "integration").glob("test_*.py")):
        doc, names = tests_of(path)
        out.append(f"### [{path.name}](../{path.relative_to(ROOT)})\n\n{doc}\n")
        out.extend(names)
        out.append("")
    units = sorted((ROOT / "tests" / "unit").rglob("test_*.py"))
    out.append(f"Unit tests: {len(units)} files under `tests/unit/` (modules with fake clients, the builder of "
               "the wheelhouse, the pipeline's code on moto in-process, the URLs the roles derive, these docs).\n")
    return "\n".join(out)


def main(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        if DOC.read_text(encoding="utf-8") != text:
            print("docs/testing.md is out of date: run python tests/tools/testing_doc.py")
            return 1
        return 0
    DOC.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
