"""Issue 18: the contract dialogs' red stars are the fields the API requires at submission
(services/application/ail_application/domain/validation.py is their one home; the console
repeats the names only to draw the star, and this test keeps the two equal)."""

from __future__ import annotations

import re

from ail_application.domain import validation
from tests.support import REPO

SOURCE = (REPO / "console" / "src" / "pages" / "ContractDialogs.tsx").read_text()


def _listed(name: str) -> tuple[str, ...]:
    found = re.search(rf"export const {name} = \[(.*?)\];", SOURCE, re.S)
    assert found, f"console/src/pages/ContractDialogs.tsx no longer declares {name}"
    return tuple(re.findall(r'"([a-z_]+)"', found.group(1)))


def test_the_stars_of_the_contract_dialogs_are_the_apis_required_fields() -> None:
    assert _listed("APPLICANT_REQUIRED") == validation.APPLICANT_REQUIRED  # e-mail: optional
    assert _listed("FOREIGN_REQUIRED") == validation.FOREIGN_REQUIRED
    assert _listed("IRON_ORE_REQUIRED") == validation.IRON_ORE_REQUIRED
