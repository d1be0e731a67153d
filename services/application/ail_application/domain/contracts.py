"""Contract information (合同信息表) and the iron-ore contract (铁矿石合同信息表), DOMAIN section 5.

Like the form, every field is optional when saved; what is required is decided at submission
(``validation.py``; the contract's totals against the goods by ``ail_shared.formrules``)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidatorFunctionWrapHandler, model_validator

from ail_application.domain.form import money
from ail_application.domain.unparsed import read_keeping_unparseable
from ail_shared.inputs import (
    IRON_ORE_LINES_MAX,
    PORTS_SAVED_MAX,
    AddressText,
    Amount,
    Capital,
    CodeText,
    Day,
    DescriptionText,
    EmailText,
    IdentifierText,
    NameText,
    Percent,
    PersonText,
    PhoneText,
    PricePerKt,
    Quantity,
    QuantityKt,
    UnitPrice,
    Year,
)


class _Part(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ApplicantEnterprise(_Part):
    """申领企业信息; pre-filled from the enterprise's last entry."""

    enterprise_code: CodeText | None = None
    name: NameText | None = None
    establishment_date: Day | None = None
    registered_capital_wan_yuan: Capital | None = Field(None, description="注册资本 (万元)")
    uscc: CodeText | None = Field(None, description="统一社会信用代码, 18 characters")
    address: AddressText | None = None
    contact: PersonText | None = None
    phone: PhoneText | None = None
    mobile: PhoneText | None = None
    email: EmailText | None = None
    fax: PhoneText | None = None
    postcode: CodeText | None = None
    foreign_trade_filing_no: IdentifierText | None = Field(None, description="对外贸易经营者备案登记号")
    fie_approval_no: IdentifierText | None = Field(None, description="外商投资企业批准证书号")
    business_licence_no: IdentifierText | None = None


class ForeignContract(_Part):
    """对外成交合同/协议信息."""

    contract_no: IdentifierText | None = None
    foreign_party_name_zh: NameText | None = None
    foreign_party_name_en: NameText | None = None
    importer_signatory: PersonText | None = None
    producer: NameText | None = None
    goods_description: DescriptionText | None = None
    signing_date: Day | None = None
    expiry_date: Day | None = None
    total_quantity: Quantity | None = Field(
        None, description="the goods' total quantity may be this or less, never more (ail_shared.formrules)"
    )
    total_amount: Amount | None = Field(
        None,
        description="in settlement_currency; the goods' total value may be this or less, never more"
        " (in USD at the day's rate when the goods are priced in another currency)",
    )
    settlement_currency: CodeText | None = Field(None, description="table `currencies`")
    payment_terms: DescriptionText | None = None
    port_of_departure: NameText | None = None
    port_of_destination: NameText | None = None
    departure_date: Day | None = None
    expected_arrival_date: Day | None = None
    freight_pricing_method: CodeText | None = Field(None, description="table `freight_pricing_methods`")
    freight_total_yuan: Amount | None = None


class AgencyContract(_Part):
    """国内贸易(代理)合同/协议信息; only when imported through an agent."""

    principal: NameText | None = None
    agent: NameText | None = None
    contract_no: IdentifierText | None = None
    signing_date: Day | None = None
    expiry_date: Day | None = None
    consignee_name: NameText | None = None
    contact: PersonText | None = None
    address: AddressText | None = None
    phone: PhoneText | None = None
    transport_mode: CodeText | None = Field(None, description="table `transport_modes`")
    waybill_no: IdentifierText | None = None


class OtherInfo(_Part):
    """其他信息."""

    end_user_name: NameText | None = None
    end_user_address: AddressText | None = None
    end_user_phone: PhoneText | None = None
    end_user_fax: PhoneText | None = None
    detailed_use: DescriptionText | None = None
    import_change_band: CodeText | None = Field(None, description="table `import_change_bands`")


class ContractInfo(_Part):
    # Values that could not be read, kept as typed under ``contract.<path>`` (domain/unparsed.py).
    _unparsed: dict[str, dict[str, Any]] = PrivateAttr(default_factory=dict)

    @model_validator(mode="wrap")
    @classmethod
    def _keep_unparseable(cls, data: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        model, kept = read_keeping_unparseable(data, handler, prefix="contract.")
        if kept:
            model._unparsed = kept
        return model

    @property
    def unparsed(self) -> dict[str, dict[str, Any]]:
        return dict(self._unparsed)

    applicant: ApplicantEnterprise = Field(default_factory=ApplicantEnterprise)
    foreign_contract: ForeignContract = Field(default_factory=ForeignContract)
    agency_contract: AgencyContract | None = None
    other: OtherInfo = Field(default_factory=OtherInfo)


class IronOreLine(_Part):
    category: NameText | None = Field(None, description="品种, e.g. 粉矿 / 块矿 / 球团")
    name: NameText | None = None
    grade_fe_pct: Percent | None = Field(None, description="品位 Fe %")
    quantity_kt: QuantityKt | None = Field(None, description="数量 (千吨)")
    unit_price_usd_per_kt: PricePerKt | None = Field(None, description="单价 (美元/千吨)")
    amount_usd: Decimal | None = Field(
        None,
        description="computed: quantity × unit price; read-only (a given value is replaced)",
        json_schema_extra={"readOnly": True},
    )


class IronOreContract(_Part):
    year: Year | None = None
    importer_code: CodeText | None = Field(None, description="filled from the application; read-only")
    importer_name: NameText | None = Field(None, description="filled from the application; read-only")
    origin_country: CodeText | None = Field(None, description="table `countries`")
    trade_country: CodeText | None = Field(None, description="table `countries`")
    contract_no: IdentifierText | None = None
    contract_type: CodeText | None = Field(None, description="table `contract_types`: spot / long_term")
    signing_date: Day | None = None
    period_from: Day | None = None
    period_to: Day | None = None
    enterprise_nature: CodeText | None = Field(
        None, description="table `enterprise_natures`: trader / producer"
    )
    seller_name_zh: NameText | None = None
    seller_name_en: NameText | None = None
    discharge_ports: list[CodeText] | None = Field(
        None, max_length=PORTS_SAVED_MAX, description="table `customs_ports`, 1..2 at submission"
    )
    freight_fob: UnitPrice | None = Field(None, description="sea freight per kt under FOB")
    freight_cfr: UnitPrice | None = None
    freight_cif: UnitPrice | None = None
    freight_other: UnitPrice | None = None
    lines: list[IronOreLine] = Field(
        default_factory=list, max_length=IRON_ORE_LINES_MAX, description=f"at most {IRON_ORE_LINES_MAX} lines"
    )


def compute_iron_ore(contract: dict[str, Any]) -> dict[str, Any]:
    out = dict(contract)
    lines = []
    for raw in contract.get("lines") or []:
        line = dict(raw)
        q, p = line.get("quantity_kt"), line.get("unit_price_usd_per_kt")
        line["amount_usd"] = (
            money(Decimal(str(q)) * Decimal(str(p))) if q is not None and p is not None else None
        )
        lines.append(line)
    out["lines"] = lines
    return out
