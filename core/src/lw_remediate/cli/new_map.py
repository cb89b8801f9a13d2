"""``lw-remediate new-map NAME``: a ready-to-test map package, outside any repository.

The files are package data (``templates/new_map/*.tmpl``) with ``__PLACEHOLDER__``
markers replaced; the generated tests pass as written (the suite proves it).
"""

from __future__ import annotations

import re
from importlib import resources
from importlib.metadata import version
from pathlib import Path

import click

_NAME = re.compile(r"^[a-z][a-z0-9]*(?:[-_][a-z0-9]+)*$")

#: Template -> path in the new package ({pkg} is the import package).
FILES = {
    "pyproject.toml.tmpl": "pyproject.toml",
    "README.md.tmpl": "README.md",
    "gitignore.tmpl": ".gitignore",
    "ci.yml.tmpl": ".github/workflows/ci.yml",
    "__init__.py.tmpl": "src/{pkg}/__init__.py",
    "log_retention.py.tmpl": "src/{pkg}/log_retention.py",
    "test_log_retention.py.tmpl": "tests/test_log_retention.py",
}


def names(name: str) -> dict[str, str]:
    """The names a map set ``name`` gets: distribution, import package, set, example rule."""
    if not _NAME.match(name):
        raise click.BadParameter(
            "use lower-case letters, digits and single '-' or '_' (e.g. acme-logs)",
            param_hint="NAME",
        )
    bare = name.removeprefix("lw-map-").removeprefix("lw_map_")
    snake = bare.replace("-", "_")
    return {
        "__DIST__": f"lw-map-{bare.replace('_', '-')}",
        "__PKG__": f"lw_map_{snake}",
        "__SET__": snake,
        "__RULE__": f"{snake.upper()}_1",
        "__CORE_VERSION__": version("lw-remediate"),
    }


def render(template: str, values: dict[str, str]) -> str:
    text = (
        resources.files(__package__).joinpath("templates", "new_map", template).read_text("utf-8")
    )
    for marker, value in values.items():
        text = text.replace(marker, value)
    return text


def write_map(name: str, target: Path) -> list[Path]:
    """Write the package for ``name`` into ``target`` (which must not exist or be empty)."""
    values = names(name)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise click.UsageError(f"{target} already exists and is not empty")
    written = []
    for template, relative in FILES.items():
        path = target / relative.format(pkg=values["__PKG__"])
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render(template, values), encoding="utf-8")
        written.append(path)
    typed = target / "src" / values["__PKG__"] / "py.typed"
    typed.write_text("")
    written.append(typed)
    return written


@click.command("new-map")
@click.argument("name")
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where to write the package (default: ./lw-map-NAME).",
)
def new_map_command(name: str, directory: Path | None) -> None:
    """Write a new map package NAME: pyproject with the entry point, an example
    remediation, tests using the kit, a README with the rule table and a CI workflow."""
    target = directory if directory is not None else Path(names(name)["__DIST__"])
    files = write_map(name, target)
    click.echo(f"wrote {len(files)} files to {target}/")
    click.echo(f'next: cd {target} && pip install -e ".[test]" && pytest')
