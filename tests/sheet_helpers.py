"""Shared by the contact sheet tests: an HTML parser that lists what a sheet holds."""

from __future__ import annotations

from html.parser import HTMLParser


class Page(HTMLParser):
    """Sections, figures (by data-source), image sources, text, every tag and attribute."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.sections: list[dict[str, str | None]] = []
        self.figures: list[dict[str, str | None]] = []
        self.images: list[str] = []
        self.tags: list[str] = []
        self.attributes: list[tuple[str, str | None]] = []
        self.text: list[str] = []
        self.section_of: dict[str, str] = {}
        self._section: str = ""
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        self.tags.append(tag)
        self.attributes += attrs
        if tag == "section":
            self.sections.append(found)
            self._section = found.get("class") or ""
        elif tag == "figure":
            self.figures.append(found)
            self.section_of[found.get("data-source") or ""] = self._section
        elif tag == "img":
            self.images.append(found.get("src") or "")

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    @property
    def all_text(self) -> str:
        return " ".join(self.text)
