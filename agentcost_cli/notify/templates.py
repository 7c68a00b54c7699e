"""Message templates. Each `templates/<name>.txt.j2` starts with a `Subject:` line, a blank
line, then the plain-text body. Variables are whatever the service passes."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

TEMPLATE_DIR = Path(__file__).parent / "templates"


@cache
def _environment() -> Any:
    import jinja2

    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATE_DIR),
        undefined=jinja2.StrictUndefined,  # a missing variable is a bug, not an empty string in a mail
        keep_trailing_newline=True,
        autoescape=False,  # plain text; the HTML bodies come with email delivery
    )


def names() -> list[str]:
    return sorted(p.name.removesuffix(".txt.j2") for p in TEMPLATE_DIR.glob("*.txt.j2"))


def render(name: str, variables: dict[str, Any]) -> tuple[str, str]:
    """(subject, body) of template `name`."""
    text = _environment().get_template(f"{name}.txt.j2").render(**variables)
    head, _, body = text.partition("\n\n")
    if not head.startswith("Subject: "):
        raise ValueError(f"template {name} must start with a 'Subject: ' line")
    return head.removeprefix("Subject: ").strip(), body
