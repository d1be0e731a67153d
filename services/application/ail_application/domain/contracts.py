"""Contract information (合同信息表) and the iron-ore contract (铁矿石合同信息表), DOMAIN section 5.

Like the form, every field is optional when saved; what is required is decided at submission."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ail_application.domain.form import money


class _Part(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ApplicantEnterprise(_Part):
    """申领企业信息; pre-filled from the enterprise's last entry."""

    enterprise_code: str | None = None
    name: str | None = None
    establishment_date: date | None = None
    registered_capital_wan_yuan: Decimal | None = Field(None, description="注册资本 (万元)")
    uscc: str | None = Field(None, description="统一社会信用代码, 18 characters")
    address: str | None = None
    contact: str | None = None
    phone: str | None = None
    mobile: str | None = None
    email: str | None = None
    fax: str | None = None
    postcode: str | None = None
    foreign_trade_filing_no: str | None = Field(None, description="对外贸易经营者备案登记号")
    fie_approval_no: str | None = Field(None, description="外商投资企业批准证书号")
    business_licence_no: str | None = None


class ForeignContract(_Part):
    """对外成交合同/协议信息."""

    contract_no: str | None = None
    foreign_party_name_zh: str | None = None
    foreign_party_name_en: str | None = None
    importer_signatory: str | None = None
    producer: str | None = None
    goods_description: str | None = None
    signing_date: date | None = None
    expiry_date: date | None = None
    total_quantity: Decimal | None = None
    total_amount: Decimal | None = None
    settlement_currency: str | None = Field(None, description="table `currencies`")
    payment_terms: str | None = None
    port_of_departure: str | None = None
    port_of_destination: str | None = None
    departure_date: date | None = None
    expected_arrival_date: date | None = None
    freight_pricing_method: str | None = Field(None, description="table `freight_pricing_methods`")
    freight_total_yuan: Decimal | None = None


class AgencyContract(_Part):
    """国内贸易(代理)合同/协议信息; only when imported through an agent."""

    principal: str | None = None
    agent: str | None = None
    contract_no: str | None = None
    signing_date: date | None = None
    expiry_date: date | None = None
    consignee_name: str | None = None
    contact: str | None = None
    address: str | None = None
    phone: str | None = None
    transport_mode: str | None = Field(None, description="table `transport_modes`")
    waybill_no: str | None = None


class OtherInfo(_Part):
    """其他信息."""

    end_user_name: str | None = None
    end_user_address: str | None = None
    end_user_phone: str | None = None
    end_user_fax: str | None = None
    detailed_use: str | None = None
    import_change_band: str | None = Field(None, description="table `import_change_bands`")


class ContractInfo(_Part):
    applicant: ApplicantEnterprise = Field(default_factory=ApplicantEnterprise)
    foreign_contract: ForeignContract = Field(default_factory=ForeignContract)
    agency_contract: AgencyContract | None = None
    other: OtherInfo = Field(default_factory=OtherInfo)


class IronOreLine(_Part):
    category: str | None = Field(None, description="品种, e.g. 粉矿 / 块矿 / 球团")
    name: str | None = None
    grade_fe_pct: Decimal | None = Field(None, description="品位 Fe %")
    quantity_kt: Decimal | None = Field(None, description="数量 (千吨)")
    unit_price_usd_per_kt: Decimal | None = Field(None, description="单价 (美元/千吨)")
    amount_usd: Decimal | None = Field(None, description="computed: quantity × unit price; read-only")


class IronOreContract(_Part):
    year: int | None = None
    importer_code: str | None = Field(None, description="filled from the application; read-only")
    importer_name: str | None = Field(None, description="filled from the application; read-only")
    origin_country: str | None = Field(None, description="table `countries`")
    trade_country: str | None = Field(None, description="table `countries`")
    contract_no: str | None = None
    contract_type: str | None = Field(None, description="table `contract_types`: spot / long_term")
    signing_date: date | None = None
    period_from: date | None = None
    period_to: date | None = None
    enterprise_nature: str | None = Field(None, description="table `enterprise_natures`: trader / producer")
    seller_name_zh: str | None = None
    seller_name_en: str | None = None
    discharge_ports: list[str] | None = Field(None, description="table `customs_ports`, 1..2")
    freight_fob: Decimal | None = Field(None, description="sea freight per kt under FOB")
    freight_cfr: Decimal | None = None
    freight_cif: Decimal | None = None
    freight_other: Decimal | None = None
    lines: list[IronOreLine] = Field(default_factory=list)


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
