"""Search tokens: normalization that makes search case- and accent-insensitive."""

from __future__ import annotations

from mongoshop.search import (
    MAX_QUERY_TOKENS,
    MAX_TOKEN,
    index_tokens,
    normalize,
    query_tokens,
    split_all,
)


def test_normalize_folds_case_and_accents() -> None:
    assert normalize("Élodie MÜLLER") == "elodie muller"
    assert normalize("Straße") == "strasse"


def test_index_tokens_hold_words_and_their_prefixes() -> None:
    tokens = index_tokens("Élodie Dupont", "elodie.dupont@example.com")
    assert {"elodie", "el", "elo", "dupont", "du", "example", "com"} <= set(tokens)
    assert "e" not in tokens  # one-letter prefixes would match nearly everything
    assert tokens == sorted(set(tokens))


def test_index_tokens_split_on_punctuation_and_skip_empty_text() -> None:
    assert index_tokens("o'brien", None, "") == ["br", "bri", "brie", "brien", "o"]


def test_query_tokens_are_normalized_deduplicated_and_bounded() -> None:
    assert query_tokens("ÉLO  elo dup") == ["elo", "dup"]
    assert query_tokens("a b") == []
    assert len(query_tokens(" ".join(f"w{i}x" for i in range(50)))) == MAX_QUERY_TOKENS


def test_query_tokens_never_carry_regex_or_operator_syntax() -> None:
    assert query_tokens(".*(a+)+$ {$ne: 1}") == ["ne"]


def test_long_words_are_truncated_identically_in_documents_and_queries() -> None:
    word = "x" * (MAX_TOKEN + 10)
    assert query_tokens(word) == ["x" * MAX_TOKEN]
    assert "x" * MAX_TOKEN in index_tokens(word)


def test_all_of_several_words_leads_with_an_equality_on_the_longest() -> None:
    leading, rest = split_all("search_tokens", ["te", "teapot", "blue", "te"])

    # One equality: an index lookup on every server, where `$all` alone is a scan on some.
    assert leading == {"search_tokens": "teapot"}
    assert rest == {"search_tokens": {"$all": ["te", "blue"]}}


def test_all_of_one_word_is_a_single_equality() -> None:
    assert split_all("tags", ["gift"]) == ({"tags": "gift"}, {})
    assert split_all("tags", ["gift", "gift"]) == ({"tags": "gift"}, {})
