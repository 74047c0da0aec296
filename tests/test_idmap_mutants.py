"""The ID map's survivors of a mutation round (docs/testing.md, "A mutation round on the ID
map"): what `parse_map`, `parse_map_text` and `resolve` say, in full, for the maps and cards
where a changed line of `plan/idmap.py` went unnoticed."""

from __future__ import annotations

from pathlib import Path

import pytest
from clinic_helpers import invoke

from cardingest.demo import make_demo_card
from cardingest.errors import MapError
from cardingest.plan.idmap import parse_map_text


def error(text: str, **options: object) -> MapError:
    with pytest.raises(MapError) as caught:
        parse_map_text(text, source="m.csv", **options)  # type: ignore[arg-type]
    return caught.value


def problems(text: str, **options: object) -> list[str]:
    return error(text, **options).details


def test_a_quote_in_a_comment_that_swallows_rows_is_refused() -> None:
    """A fault: a quote opened in a # comment's second cell and closed on a later line made
    the rows between part of the comment, skipped as it is: the map was accepted, and their
    photos held as "not in the ID map"."""
    text = (
        'files,id\nIMG_0001,JBX3656\n# next patient,"the tall one\nIMG_0002,ACA31FM\n'
        '# then,"x\nIMG_0003,MCJ1984\n'
    )
    assert problems(text) == [
        'line 3: a quote (") opened in this # comment is closed only on a later line, so the '
        "lines between were read as part of the comment, not as rows; remove the quote, or "
        "close it on this line"
    ]
    # A comment cell a spreadsheet wrote with a line break of its own is still a comment.
    idmap = parse_map_text('files,id\n"# a note\nover two lines"\nIMG_0002,ACA31FM\n')
    assert [(r.line, r.patient_id) for r in idmap.rows] == [(4, "ACA31FM")]


def test_a_comment_swallowing_rows_is_exit_2_naming_its_line(
    tmp_path: Path, test_ids: Path
) -> None:
    card, map_file = make_demo_card(tmp_path)
    map_file.write_text(
        "files,id\nIMG_0001-IMG_0002,ZAC5361\n"
        '# next patient,"the tall one\nIMG_0003-IMG_0004,ZAA0067\n# then,"x\nIMG_0005,ZAA0067\n',
        encoding="utf-8",
    )
    code, out, err = invoke(
        "preview", card, "--map", map_file, "--archive", tmp_path / "archive", "--json"
    )
    assert code == 2, (out, err)
    assert f"{map_file}: 1 problem(s) in the ID map" in err
    assert 'line 3: a quote (") opened in this # comment' in err
