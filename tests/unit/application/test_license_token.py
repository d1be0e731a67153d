"""The token of a license's public check (domain/license.py): what the verify route compares."""

from __future__ import annotations

from ail_application.domain.license import token_matches, verification_token

KEY = b"k" * 32


def test_the_token_of_the_license_matches_and_another_does_not() -> None:
    token = verification_token(KEY, "26AANW0001")
    assert token_matches(KEY, "26AANW0001", token)
    assert not token_matches(KEY, "26AANW0002", token)
    assert not token_matches(b"x" * 32, "26AANW0001", token)


def test_a_token_with_any_character_is_no_match_not_an_error() -> None:
    # compare_digest refuses non-ASCII str: a hand-typed URL with 许 in it was a 500.
    assert not token_matches(KEY, "26AANW0001", "许可证许可证许可证许可证")
    assert not token_matches(KEY, "许可证", "")
