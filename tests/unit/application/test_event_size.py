"""The largest events an application can make under the input limits stay well under the broker's
maximum message size (issue 10, item 8; item 1 was a 1.8 MB event the broker refused).

The largest form is built from the OpenAPI (JSON) schema of the input models, not by hand: every
string at its ``maxLength``, every list at its ``maxItems``, every number at its ``maximum``. A
string or list without a bound fails the test, so a new unbounded field cannot slip in.
"""

from __future__ import annotations

import base64
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from ail_application.adapters.reference_data import load
from ail_application.domain.contracts import ContractInfo, IronOreContract, compute_iron_ore
from ail_application.domain.form import DEFAULTS, DraftCreate, FormFields, compute
from ail_application.domain.model import Application
from ail_shared.canonical import canonical_json
from ail_shared.events import ApplicationSubmitted, SignatureRequested, envelope_for

BROKER_MAX_BYTES = 1_048_576  # Kafka's default message.max.bytes (1 MiB); deployments set it
SHARE = 0.5  # the largest event must be under half of it
ON = date(2026, 12, 1)

# Characters by their cost in the serialised event: a Chinese character is 3 bytes of UTF-8, a
# character outside the BMP 4, and a control character 6 (JSON escapes it as \u0001).
CHARACTERS = {"chinese": "中", "astral": "\U0001f600", "control": "\x01"}


def largest(schema: dict[str, Any], defs: dict[str, Any], char: str, path: str) -> Any:
    if "$ref" in schema:
        return largest(defs[schema["$ref"].rsplit("/", 1)[1]], defs, char, path)
    if "anyOf" in schema:
        branches = [b for b in schema["anyOf"] if b.get("type") != "null"]
        if "maximum" in schema:  # a bounded decimal: number or string
            return str(Decimal(str(schema["maximum"])))
        return largest(branches[0], defs, char, path)
    kind = schema.get("type")
    if kind == "object":
        props = schema.get("properties", {})
        return {
            name: largest(sub, defs, char, f"{path}.{name}")
            for name, sub in props.items()
            if not sub.get("readOnly")
        }
    if kind == "array":
        assert "maxItems" in schema, f"{path}: a list without maxItems"
        return [largest(schema["items"], defs, char, f"{path}.0") for _ in range(schema["maxItems"])]
    if kind == "string":
        if schema.get("format") == "date":
            return "2026-12-31"
        assert "maxLength" in schema, f"{path}: a string without maxLength"
        return char * schema["maxLength"]
    if kind == "integer":
        assert "maximum" in schema, f"{path}: an integer without maximum"
        return 2026 if path.endswith("year") else schema["maximum"]
    if kind == "boolean":
        return True
    raise AssertionError(f"{path}: no rule for {schema}")


def biggest(model: Any, char: str) -> dict[str, Any]:
    schema = model.model_json_schema()
    value: dict[str, Any] = largest(schema, schema.get("$defs", {}), char, model.__name__)
    # Validated by the model itself: the limits the test uses are the ones the API applies.
    return model.model_validate(value).model_dump(mode="json", exclude_none=True)


@pytest.mark.parametrize("kind", list(CHARACTERS))
def test_the_largest_application_events_are_under_half_the_broker_maximum(kind: str) -> None:
    char = CHARACTERS[kind]
    ref = load()
    draft = biggest(DraftCreate, char)
    form = {k: v for k, v in biggest(FormFields, char).items() if k in FormFields.model_fields}
    # Real codes where totals are computed, so that the figures reach their most digits.
    form.update(currency="GBP", commodity_code="2601110000")
    form["goods"] = [{**g, "unit": "035"} for g in form["goods"]]
    app = Application(
        id=__import__("uuid").uuid4(),
        serial_no="NA2600000000000001",
        enterprise_code="1100776367555",
        importer_name=char * 200,
        year=2026,
        issuing_agency=draft["issuing_agency"],
        form={**DEFAULTS, **form},
        contract=biggest(ContractInfo, char),
        iron_ore_contract=compute_iron_ore(biggest(IronOreContract, char)),
    )
    app.recompute(ref, ON)
    snapshot = app.snapshot()
    submitted = envelope_for(
        ApplicationSubmitted(
            application_id=str(app.id),
            serial_no=app.serial_no,
            enterprise_code=app.enterprise_code,
            submission_id=str(app.id),
            submitted_by="k" * 64,
            snapshot=snapshot,
        ),
        aggregate_id=str(app.id),
        tenant=app.enterprise_code,
    ).to_bytes()
    # The submission service asks the signer to sign the canonical snapshot, in base64: the
    # biggest event of the flow.
    signing = envelope_for(
        SignatureRequested(
            application_id=str(app.id),
            submission_id=str(app.id),
            enterprise_code=app.enterprise_code,
            ekey_serial="e" * 64,
            canonical_payload=base64.b64encode(canonical_json(snapshot)).decode(),
            signer_host="h" * 64,
        ),
        aggregate_id=str(app.id),
        tenant=app.enterprise_code,
    ).to_bytes()
    assert len(snapshot["goods"]) == 20 and len(snapshot["iron_ore_contract"]["lines"]) == 20
    assert snapshot["remarks"] == char * 500
    for name, size in (("ApplicationSubmitted", len(submitted)), ("SignatureRequested", len(signing))):
        print(f"{kind}: largest {name} {size} bytes ({size / BROKER_MAX_BYTES:.1%} of 1 MiB)")
        assert size < SHARE * BROKER_MAX_BYTES, (name, size)


def test_totals_at_the_largest_numbers_are_computed_in_every_currency() -> None:
    """Quantity and price at their maxima, over the most lines, at every exchange rate: the
    totals fit Python's 28-digit decimal context (a 40-digit quantity used to raise there)."""
    ref = load()
    line = {"spec": "x", "unit": "035", "quantity": "999999999999.9999", "unit_price": "9999999999.9999"}
    for currency in ("USD", "CNY", "EUR", "GBP", "JPY", "HKD"):
        form = {"currency": currency, "goods": [line] * 20, "commodity_code": "2601110000"}
        computed = compute(form, year=2026, ref=ref, on=ON)
        assert computed["total_value"] > 0
