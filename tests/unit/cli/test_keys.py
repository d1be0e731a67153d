"""Idempotency keys of ail import: the same row gives the same key; anything that makes it a
different application gives another."""

from __future__ import annotations

from ail_cli.keys import attachment_key, draft_key

BODY = {"commodity_code": "2303300010", "goods": [{"spec": "s", "unit": "070", "quantity": "1"}]}


def test_same_row_same_key_whatever_the_dict_order() -> None:
    again = {"goods": [{"quantity": "1", "unit": "070", "spec": "s"}], "commodity_code": "2303300010"}
    assert draft_key("1100776367555", "R1", BODY) == draft_key("1100776367555", "R1", again)


def test_enterprise_reference_and_content_each_change_the_key() -> None:
    base = draft_key("1100776367555", "R1", BODY)
    assert draft_key("3100123456789", "R1", BODY) != base  # an agency's two enterprises
    assert draft_key("1100776367555", "R2", BODY) != base  # two identical rows of one file
    changed = {**BODY, "remarks": "x"}
    assert draft_key("1100776367555", "R1", changed) != base


def test_keys_fit_the_api() -> None:
    key = draft_key(None, "R" * 500, BODY)
    assert len(key) <= 200 and key.startswith("ail-import-v1-draft-")
    a = attachment_key(key, "a.pdf", "0" * 64)
    assert a != attachment_key(key, "b.pdf", "0" * 64) != attachment_key(key, "a.pdf", "1" * 64)
    assert len(a) <= 200
