"""``workflows draw``: a workflow's step/event graph as Mermaid text or an HTML page."""

from __future__ import annotations

import html
import os
from pathlib import Path

import click

from ._loading import RuntimeFailure, load_workflows

__all__ = ["draw_command", "render_html"]

_LOCAL_MERMAID = (
    Path(__file__).resolve().parent.parent / "server" / "static" / "mermaid.min.js",
    Path(__file__).resolve().parent / "static" / "mermaid.min.js",
)


def _find_mermaid(explicit: str | None) -> str | None:
    """The text of a local mermaid.js, if one is available (never the network)."""
    candidates = [Path(explicit)] if explicit else []
    env = os.environ.get("WORKFLOWS_MERMAID_JS")
    if env and not explicit:
        candidates.append(Path(env))
    if not explicit:
        candidates.extend(_LOCAL_MERMAID)
    for path in candidates:
        if path.is_file():
            return path.read_text(encoding="utf-8")
    if explicit:
        raise click.BadParameter(f"no such file: {explicit}", param_hint="'--mermaid-js'")
    return None


def render_html(graphs: dict[str, str], mermaid_js: str | None) -> str:
    """A standalone page showing each graph; rendered when ``mermaid_js`` is given."""
    sections = []
    for name, text in graphs.items():
        sections.append(
            f"<section>\n<h2>{html.escape(name)}</h2>\n"
            f'<pre class="mermaid">\n{html.escape(text)}\n</pre>\n</section>'
        )
    if mermaid_js is not None:
        safe_js = mermaid_js.replace("</script", "<\\/script")
        script = (
            f"<script>\n{safe_js}\n</script>\n"
            "<script>mermaid.initialize({startOnLoad: true});</script>"
        )
        note = ""
    else:
        script = ""
        note = (
            '<p class="note">Mermaid is not available offline here, so the graph is shown '
            "as text; paste it into any Mermaid renderer, or run <code>workflows draw "
            "--mermaid-js PATH</code> with a local copy of mermaid.min.js.</p>"
        )
    title = html.escape(", ".join(graphs))
    body = "\n".join(sections)
    return (
        '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{title}</title>\n"
        "<style>body{font-family:system-ui,sans-serif;margin:2rem}"
        "pre{background:#f6f8fa;padding:1rem;overflow:auto}.note{color:#555}</style>\n"
        f"</head>\n<body>\n<h1>{title}</h1>\n{note}\n{body}\n{script}\n</body>\n</html>\n"
    )


@click.command("draw")
@click.argument("target", metavar="MODULE:ATTR")
@click.option(
    "--html",
    "html_path",
    type=click.Path(dir_okay=False, writable=True),
    help="Write an HTML page rendering the graph to this file instead of printing.",
)
@click.option(
    "--mermaid-js",
    type=click.Path(dir_okay=False),
    help="A local mermaid.min.js to embed in the HTML page (nothing is fetched).",
)
def draw_command(target: str, html_path: str | None, mermaid_js: str | None) -> None:
    """Print a workflow's step/event graph as Mermaid text, or write it as HTML.

    \b
    Examples:
        workflows draw app:approval
        workflows draw app:approval --html graph.html
    """
    graphs = {name: wf.draw_mermaid() for name, wf in load_workflows(target).items()}
    if html_path is None:
        if mermaid_js is not None:
            raise click.UsageError("--mermaid-js only applies with --html")
        for index, (name, text) in enumerate(graphs.items()):
            if len(graphs) > 1:
                click.echo(("\n" if index else "") + f"%% {name}")
            click.echo(text.rstrip("\n"))
        return
    page = render_html(graphs, _find_mermaid(mermaid_js))
    try:
        Path(html_path).write_text(page, encoding="utf-8")
    except OSError as exc:
        raise RuntimeFailure(f"cannot write {html_path}: {exc.strerror or exc}") from None
    click.echo(f"wrote {html_path}", err=True)
