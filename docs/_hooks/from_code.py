"""MkDocs hook: parts of pages are read from the code, so the docs cannot drift from it.

- ``<!-- options-reference -->`` becomes a table of every :class:`~kafkasse_wsgi.Options`
  field, grouped as its docstring groups them: type, default, the ``kafkasse-wsgi serve`` flag
  and variable, and the field's ``:param:`` text. A field without one fails the build.
- ``<!-- include: PATH -->`` becomes the repository file PATH as a code block (the clients
  page shows the snippets ``tests/test_python_clients.py`` imports).
- ``<!-- readme -->`` becomes README.md, its ``docs/`` links made relative to the site.

Run by ``mkdocs build --strict`` (``mkdocs.yml``: ``hooks``), nothing else to install.
"""

from __future__ import annotations

import dataclasses
import re
import sys
from pathlib import Path
from typing import Any

from mkdocs.exceptions import PluginError

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))  # the package of this checkout, installed or not
# Bound now: mkdocs puts sys.path back once this module is loaded, and an editable install of
# another checkout would then answer the imports below (it did, unnoticed, while the modules
# of both checkouts had the same names).
import kafkasse_wsgi  # noqa: E402

assert Path(kafkasse_wsgi.__file__).resolve().parent == ROOT / "kafkasse_wsgi"

INCLUDE = re.compile(r"<!-- include: (\S+) -->")
OPTIONS_MARK = "<!-- options-reference -->"
README_MARK = "<!-- readme -->"
LANGUAGES = {".py": "python", ".toml": "toml", ".conf": "nginx", ".js": "js"}


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    markdown = INCLUDE.sub(_include, markdown)
    if README_MARK in markdown:
        readme = (ROOT / "README.md").read_text(encoding="utf-8")
        markdown = markdown.replace(README_MARK, re.sub(r"\]\(docs/", "](", readme))
    if OPTIONS_MARK in markdown:
        markdown = markdown.replace(OPTIONS_MARK, options_reference())
    return markdown


def _include(match: re.Match[str]) -> str:
    path = ROOT / match.group(1)
    if not path.is_file():
        raise PluginError(f"include: no file {match.group(1)}")
    language = LANGUAGES.get(path.suffix, "")
    return f"```{language}\n{path.read_text(encoding='utf-8').rstrip()}\n```"


def options_reference() -> str:
    """The Options fields as Markdown tables, one per group of the class docstring."""
    from kafkasse_wsgi.options import Options

    fields = {field.name: field for field in dataclasses.fields(Options)}
    flags = _serve_flags()
    groups = _documented_groups(Options.__doc__ or "")
    documented = {name for _, params in groups for name in params}
    missing = sorted(set(fields) - documented)
    unknown = sorted(documented - set(fields))
    if missing or unknown:
        raise PluginError(
            f"Options docstring: no :param: for {missing or 'none'}; "
            f":param: for no field: {unknown or 'none'}"
        )
    out = []
    for title, params in groups:
        out.append(f"### {title}\n")
        out.append("| option | type | default | `serve` flag, variable | meaning |")
        out.append("|---|---|---|---|---|")
        for name, text in params.items():
            field = fields[name]
            flag = "<br>".join(_code(text) for text in flags.get(name, [])) or "Python only"
            out.append(
                f"| `{name}` | {_code(str(field.type))} | {_code(_default(field))} "
                f"| {flag} | {_cell(_markdown(text))} |"
            )
        out.append("")
    return "\n".join(out)


def _documented_groups(doc: str) -> list[tuple[str, dict[str, str]]]:
    """``[(title, {name: text})]``: ``:param:`` entries, grouped under the paragraphs of
    the docstring that introduce them (the first group is "General")."""
    groups: list[tuple[str, dict[str, str]]] = [("General", {})]
    current: str | None = None
    for line in doc.splitlines():
        stripped = line.strip()
        param = re.match(r":param (\w+):\s*(.*)", stripped)
        if param:
            current = param.group(1)
            groups[-1][1][current] = param.group(2)
        elif current and stripped:
            groups[-1][1][current] += " " + stripped
        elif stripped and groups[-1][1]:  # a paragraph after params: a new group's title
            title = re.sub(r"\s*\(.*", "", stripped).rstrip(":")
            groups.append((title, {}))
            current = None
        else:
            current = None
    return [(title, params) for title, params in groups if params]


def _default(field: dataclasses.Field[Any]) -> str:
    if field.default_factory is not dataclasses.MISSING:
        value = field.default_factory()
        if dataclasses.is_dataclass(value):
            value = dataclasses.asdict(value)  # type: ignore[arg-type]
        return repr(value)
    return repr(field.default)


def _serve_flags() -> dict[str, list[str]]:
    """``{option: [flags..., variable]}`` as ``kafkasse-wsgi serve`` declares them."""
    import argparse

    from kafkasse_wsgi._serve import config as serve_config

    parser = argparse.ArgumentParser()
    serve_config.add_arguments(parser)
    flags: dict[str, list[str]] = {}
    for action in parser._actions:
        flags.setdefault(action.dest, []).extend(action.option_strings)
    for spec in serve_config.SPECS:
        flags.setdefault(spec.name, []).append(spec.env)
    flags["kafka_config"] = [
        "--kafka-config KEY=VALUE",
        serve_config.KAFKA_ENV_PREFIX + "<KEY>",
        "[kafka] (config file)",
    ]
    return flags


def _markdown(text: str) -> str:
    """reST roles and double backquotes of the docstring, as Markdown."""
    text = re.sub(r":\w+:`~?([^`]*)`", lambda m: f"`{m.group(1).rsplit('.', 1)[-1]}`", text)
    return text.replace("``", "`")


def _code(text: str) -> str:
    return f"`{text}`"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")
