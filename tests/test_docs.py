"""The documentation stays true to the project: a page per variant, the README's variant table, its size, links.

Fast: reads files only (and imports the variant registry for the task column); trains nothing.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
README_MAX_BYTES = 12_000  # issue 17: the README is read in five minutes; the rest lives in docs/

BEGIN, END = "<!-- variants:begin -->", "<!-- variants:end -->"
# a table row whose first cell is a backticked name: | `mlp` | generation | ... | [page](docs/variants/mlp.md) |
ROW = re.compile(r"^\|\s*`(?P<name>[^`]+)`\s*\|(?P<rest>.*)\|\s*$")
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?(?P<target>[^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
FENCE = re.compile(r"^(```|~~~).*?^\1[^\n]*$", re.MULTILINE | re.DOTALL)
INLINE_CODE = re.compile(r"`[^`\n]*`")


def params_variants() -> list[str]:
    return list(yaml.safe_load((ROOT / "params.yaml").read_text())["variants"])


def readme_variant_rows(text: str) -> list[tuple[str, list[str]]]:
    """(name, the other cells) of each row between the variants:begin and variants:end markers."""
    assert text.count(BEGIN) == 1 and text.count(END) == 1, f"README.md needs one {BEGIN} ... {END} block"
    block = text.split(BEGIN, 1)[1].split(END, 1)[0]
    rows = []
    for line in block.splitlines():
        match = ROW.match(line.strip())
        if match:
            rows.append((match["name"], [cell.strip() for cell in match["rest"].split("|")]))
    return rows


def markdown_files() -> list[Path]:
    return [README, *sorted(DOCS.rglob("*.md"))]


def without_code(text: str) -> str:
    """The text outside fenced blocks and inline code, where a bracketed pair is not a link."""
    return INLINE_CODE.sub("", FENCE.sub("", text))


def anchors(path: Path) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens; repeats get -1, -2, ..."""
    seen: dict[str, int] = {}
    found = set()
    for line in FENCE.sub("", path.read_text()).splitlines():
        heading = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if not heading:
            continue
        slug = re.sub(r"[^\w\- ]", "", heading[1].lower()).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        found.add(slug if count == 0 else f"{slug}-{count}")
    return found


def test_every_variant_in_params_has_a_docs_page():
    missing = [v for v in params_variants() if not (DOCS / "variants" / f"{v}.md").is_file()]
    assert not missing, f"no docs/variants/<v>.md page for: {', '.join(missing)}"


def test_readme_variant_table_lists_exactly_the_variants_of_params():
    listed = [name for name, _ in readme_variant_rows(README.read_text())]
    duplicates = sorted({v for v in listed if listed.count(v) > 1})
    assert not duplicates, f"README lists these variants twice: {duplicates}"
    configured = params_variants()
    assert sorted(listed) == sorted(configured), (
        f"README's variant table and params.yaml differ: only in the README {sorted(set(listed) - set(configured))}, "
        f"only in params.yaml {sorted(set(configured) - set(listed))}")


def test_readme_variant_rows_name_their_task_and_link_their_page():
    from gan_core.variants import get_variant_class

    for name, cells in readme_variant_rows(README.read_text()):
        assert cells[0] == get_variant_class(name).task, f"README row `{name}`: task {cells[0]!r}"
        assert f"(docs/variants/{name}.md)" in cells[-1], f"README row `{name}` must link docs/variants/{name}.md"


def test_readme_is_at_most_12_kb():
    size = len(README.read_bytes())
    assert size <= README_MAX_BYTES, f"README.md is {size} bytes (at most {README_MAX_BYTES}): move detail to docs/"


@pytest.mark.parametrize("page", markdown_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_point_to_existing_files_and_headings(page: Path):
    broken = []
    for match in LINK.finditer(without_code(page.read_text())):
        target = match["target"]
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.IGNORECASE):  # http:, https:, mailto:, ...
            continue
        file_part, _, fragment = target.partition("#")
        resolved = (page.parent / file_part).resolve() if file_part else page
        if not resolved.exists():
            broken.append(f"{target} (no such file)")
        elif fragment and resolved.suffix == ".md" and fragment.lower() not in anchors(resolved):
            broken.append(f"{target} (no heading #{fragment} in {resolved.relative_to(ROOT)})")
    assert not broken, f"{page.relative_to(ROOT)}: broken links: {'; '.join(broken)}"
