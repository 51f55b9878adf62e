"""The package layout keeps its promises: imports go down the stages, no cycles, no private reach.

Stages, from the bottom: ``core`` (errors, settings, vocabulary), ``io`` (files in and out),
``network`` (OSM to graph), ``analysis`` (routing, access, coverage), ``planning`` (targets,
siting), ``outputs`` (maps, figures, report), ``study`` (a whole study, batches, scenarios),
``cli`` (the command line). A module may import its own stage and the stages below it only.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "deyang_geo"
STAGES = ("core", "io", "network", "analysis", "planning", "outputs", "study", "cli")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _is_module(name: str) -> bool:
    return name in MODULES


def _type_checking_nodes(tree: ast.Module) -> set[int]:
    inside: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            inside.update(id(n) for child in node.body for n in ast.walk(child))
    return inside


def _imports(module: str) -> Iterator[tuple[str, str | None, int, bool]]:
    """Yield (imported module, imported name or None, line, type-checking only)."""
    path = MODULES[module]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    typing_only = _type_checking_nodes(tree)
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            if not target.startswith("deyang_geo"):
                continue
            for alias in node.names:
                full = f"{target}.{alias.name}"
                if _is_module(full):
                    yield full, None, node.lineno, id(node) in typing_only
                else:
                    yield target, alias.name, node.lineno, id(node) in typing_only
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("deyang_geo"):
                    yield alias.name, None, node.lineno, id(node) in typing_only


def _stage(module: str) -> int:
    parts = module.split(".")
    if len(parts) < 2 or parts[1] not in STAGES:
        return -1  # the package root (errors and the version) and __main__
    return STAGES.index(parts[1])


def test_every_module_sits_in_a_stage() -> None:
    loose = [m for m in MODULES if m.count(".") == 1 and m.split(".")[1] not in STAGES
             and m not in ("deyang_geo.__main__",)]
    assert loose == []


def test_imports_go_down_the_stages() -> None:
    up = []
    for module in MODULES:
        if module in ("deyang_geo", "deyang_geo.__main__"):
            continue  # the root re-exports the errors; __main__ runs the command line
        for target, _name, line, typing_only in _imports(module):
            if typing_only or target == "deyang_geo":
                continue
            if _stage(target) > _stage(module):
                up.append(f"{module}:{line} imports {target}")
    assert up == []


def test_no_private_names_across_modules() -> None:
    reach = []
    for module in MODULES:
        for target, name, line, _typing_only in _imports(module):
            leaf = target.rsplit(".", 1)[-1]
            private_module = leaf.startswith("_") and not leaf.startswith("__")
            private_name = name is not None and name.startswith("_") and not name.startswith("__")
            if target != module and (private_module or private_name):
                reach.append(f"{module}:{line} takes {target}.{name or ''}")
    assert reach == []


def _cycle(graph: dict[str, set[str]]) -> list[str]:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt):], nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return []

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return []


def test_no_import_cycle() -> None:
    """Runtime imports (top level and inside functions) form no cycle between modules.

    A package's ``__init__`` re-exporting its modules is not an edge back into the package.
    """
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    for module, path in MODULES.items():
        for target, _name, _line, typing_only in _imports(module):
            if typing_only or target == module:
                continue
            # a package's __init__ re-exports its own modules: not an edge back into it
            if path.name == "__init__.py" and target.startswith(module + "."):
                continue
            if target in MODULES and MODULES[target].name == "__init__.py" and \
                    module.startswith(target + "."):
                continue
            graph[module].add(target)
    assert _cycle(graph) == []


def test_every_module_imports() -> None:
    """Every module imports (in one fresh interpreter, in name order)."""
    names = [m for m in sorted(MODULES) if m != "deyang_geo.__main__"]
    code = "import importlib\n" + "".join(f"importlib.import_module({m!r})\n" for m in names)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=ROOT, check=False)
    assert done.returncode == 0, done.stderr[-2000:]


def test_file_network_path_does_not_import_osmnx() -> None:
    """Reading an OSM file builds the graph without importing osmnx (about 1.5 s and 180 MiB)."""
    code = (
        "import sys\n"
        "from deyang_geo.network import graph_from_osm_file\n"
        "G = graph_from_osm_file('tests/fixtures/net_basic.osm', modes=['walk'], retain_all=True)\n"
        "assert G.number_of_edges() > 0\n"
        "print('osmnx' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=ROOT, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "False"


def test_names_come_from_the_module_that_owns_them() -> None:
    """Inside the package, a name is imported from its module, not from a package's __init__.

    A package's ``__init__`` is the public face for notebooks; importing through it from inside
    would tie a module to its whole package and hide where a name lives.
    """
    through = []
    for module, path in MODULES.items():
        if path.name == "__init__.py":
            continue
        for target, name, line, _typing_only in _imports(module):
            if name is None or target == "deyang_geo":
                continue
            if MODULES.get(target, PACKAGE).name == "__init__.py":
                through.append(f"{module}:{line} takes {name} from {target}")
    assert through == []


def test_help_does_not_load_the_engine() -> None:
    """``deyang-geo --help`` and every command's --help build without geopandas, numba or folium."""
    code = (
        "import sys\n"
        "from deyang_geo.cli.app import build_parser\n"
        "build_parser()\n"
        "print(sorted(m for m in ('geopandas', 'numba', 'folium', 'networkx', 'osmnx')\n"
        "             if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=ROOT, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[]"


def test_network_command_file_path_loads_no_heavy_library(tmp_path: Path) -> None:
    """``deyang-geo network --osm F --out G.graphml`` runs on arrays and numpy only.

    Found in issue 17: the command imported the whole network stage (geopandas, shapely,
    networkx, pandas) and networkx's GraphML writer held the whole XML tree (6.6 GB on a
    160,000-node network). The file path now loads none of them, nor numba or osmnx.
    """
    out = tmp_path / "net.graphml"
    code = (
        "import sys\n"
        "from deyang_geo.cli import main\n"
        "rc = main(['--quiet', 'network', '--osm', 'tests/fixtures/net_basic.osm', '--out',"
        f" {str(out)!r}])\n"
        "assert rc == 0\n"
        "print(sorted(m for m in ('geopandas', 'shapely', 'networkx', 'pandas', 'numba',\n"
        "                         'osmnx', 'folium', 'matplotlib') if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=ROOT, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "[]"
    assert out.stat().st_size > 0
