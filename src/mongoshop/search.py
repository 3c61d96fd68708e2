"""Search tokens: the portable replacement for ``$text``.

Each searchable document stores a normalized token array (case-folded, accents
removed, split on anything that is not a letter or digit) plus the prefixes of
each token, under a multikey index. A query is normalized the same way and
matched by all of them, so every query word must be a prefix of some word of the
document. This runs identically on MongoDB, Atlas and the embedded server, and
never turns user input into a regular expression.

"All of these tokens" is asked as one equality on the token likeliest to be
rare, which both servers answer from the multikey index, followed by ``$all``
of the others over what it found (`split_all`). A bare ``$all`` of several
tokens is a collection scan on the embedded server (29 ms at 2,000 documents,
294 ms at 20,000), where the leading equality costs what it matches.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from typing import Any

MIN_PREFIX = 2
MAX_TOKEN = 24
MAX_QUERY_TOKENS = 8

_SPLIT = re.compile(r"[^0-9a-z]+")


def normalize(text: str) -> str:
    """Case-fold and strip accents: "Élodie" and "elodie" are the same word."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def words(text: str) -> list[str]:
    """The normalized words of `text`, in order, truncated to `MAX_TOKEN` characters."""
    return [w[:MAX_TOKEN] for w in _SPLIT.split(normalize(text)) if w]


def index_tokens(*texts: str | None) -> list[str]:
    """Every word of `texts` and each of its prefixes of at least `MIN_PREFIX` characters.

    Returned sorted, so the stored array does not change when the text does not.
    """
    tokens: set[str] = set()
    for text in texts:
        if not text:
            continue
        for word in words(text):
            tokens.add(word)
            tokens.update(word[:n] for n in range(MIN_PREFIX, len(word)))
    return sorted(tokens)


def query_tokens(query: str) -> list[str]:
    """The tokens a query must all match; one-letter words are too vague to filter on.

    At most `MAX_QUERY_TOKENS` distinct words are kept so a pasted paragraph
    cannot become an enormous ``$all``.
    """
    seen: list[str] = []
    for word in words(query):
        if len(word) >= MIN_PREFIX and word not in seen:
            seen.append(word)
    return seen[:MAX_QUERY_TOKENS]


def split_all(field: str, values: Sequence[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """ "`field` holds all of `values`" as (a leading equality, a check of the rest).

    The leading value is the longest: a longer word or prefix is shared by fewer
    documents (``"teapot"`` before ``"te"``), the best guess without statistics.
    The first filter goes first in a pipeline, so the multikey index serves it;
    the second (empty when one value is all there is) filters what it found.
    `values` must not be empty.
    """
    unique = list(dict.fromkeys(values))
    leading = max(unique, key=len)
    rest = [value for value in unique if value != leading]
    return {field: leading}, ({field: {"$all": rest}} if rest else {})
