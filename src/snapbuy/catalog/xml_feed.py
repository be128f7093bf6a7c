"""XML feeds: RSS 2.0 <rss><channel><item> and Atom <feed><entry>, with Google's g: elements.

Parsed by defusedxml: entity declarations (the billion-laughs bomb) and external references are refused.
"""

from __future__ import annotations

from collections.abc import Callable
from xml.etree.ElementTree import ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import DefusedXMLParser

from snapbuy.catalog.fields import normalise_name
from snapbuy.catalog.records import Record
from snapbuy.errors import CatalogError

GOOGLE_NS = "http://base.google.com/ns/1.0"
ATOM_NS = "http://www.w3.org/2005/Atom"
RSS1_NS = "http://purl.org/rss/1.0/"
FEED_ROOTS = ("rss", "feed", "RDF")
ITEM_ELEMENTS = ("item", "entry")
# Elements from other namespaces (dc:, content:, ...) are not product attributes and are ignored.
_READ_NAMESPACES = ("", GOOGLE_NS, ATOM_NS, RSS1_NS)
_CHUNK = 1 << 20


class _NotAFeed(Exception):
    pass


def xml_records(data: bytes, name: str) -> list[Record]:
    """One record per item or entry, at the line of its start tag; the file's problems raise CatalogError."""
    target = _ItemCollector()
    parser = DefusedXMLParser(target=target, forbid_dtd=False, forbid_entities=True, forbid_external=True)
    target.current_line = lambda: int(parser.parser.CurrentLineNumber)
    try:
        for offset in range(0, len(data), _CHUNK):
            parser.feed(data[offset : offset + _CHUNK])
        parser.close()
    except DefusedXmlException as err:
        reason = (
            f"XML refused for safety ({type(err).__name__}): feeds may not declare entities or fetch files"
        )
        raise CatalogError(name, target.current_line(), "file", reason) from None
    except ParseError as err:
        raise CatalogError(name, err.position[0], "file", f"malformed XML: {err}") from None
    except _NotAFeed as err:
        raise CatalogError(name, target.current_line(), "file", str(err)) from None
    return target.records


def _split(tag: str) -> tuple[str, str]:
    namespace, _, local = tag[1:].partition("}") if tag.startswith("{") else ("", "", tag)
    return namespace, local


class _ItemCollector:
    """An ElementTree parser target that keeps only each item's direct children, as text."""

    def __init__(self) -> None:
        self.records: list[Record] = []
        self.current_line: Callable[[], int] = lambda: 0
        self._depth = 0
        self._root_seen = False
        self._item: dict[str, object] | None = None
        self._item_depth = 0
        self._item_line = 0
        self._from_google: set[str] = set()
        self._key: str | None = None  # the child element being read, if it is one we keep
        self._google = False
        self._text: list[str] = []

    def start(self, tag: str, attrib: dict[str, str]) -> None:
        self._depth += 1
        namespace, local = _split(tag)
        if not self._root_seen:
            self._root_seen = True
            if local not in FEED_ROOTS:
                raise _NotAFeed(f"unrecognised XML feed <{local}>: expected RSS 2.0 <rss> or Atom <feed>")
        if self._item is None:
            if local in ITEM_ELEMENTS and namespace in _READ_NAMESPACES:
                self._item, self._item_depth, self._item_line = {}, self._depth, self.current_line()
                self._from_google = set()
            return
        if self._depth != self._item_depth + 1 or namespace not in _READ_NAMESPACES:
            return
        self._key, self._google, self._text = normalise_name(local), namespace == GOOGLE_NS, []
        if local == "link" and "href" in attrib:  # Atom: <link rel="alternate" href="..."/>
            self._key = "link" if attrib.get("rel", "alternate") == "alternate" else None
            self._text = [attrib["href"]]

    def data(self, text: str) -> None:
        if self._key is not None and self._depth == self._item_depth + 1:
            self._text.append(text)

    def end(self, tag: str) -> None:
        if self._item is not None and self._depth == self._item_depth + 1 and self._key is not None:
            self._keep(self._item, self._key, "".join(self._text).strip())
            self._key = None
        elif self._item is not None and self._depth == self._item_depth:
            self.records.append(Record(self._item_line, dict(self._item), self._item))
            self._item = None
        self._depth -= 1

    def _keep(self, item: dict[str, object], key: str, value: str) -> None:
        """Repeated elements become a list; a g: element wins over a plain one of the same name."""
        if self._google and key not in self._from_google:
            self._from_google.add(key)
            item[key] = value
        elif key in item and (self._google or key not in self._from_google):
            previous = item[key]
            item[key] = [*previous, value] if isinstance(previous, list) else [previous, value]
        elif key not in item:
            item[key] = value

    def close(self) -> None:
        return None
