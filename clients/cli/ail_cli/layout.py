"""The import workbook's layout: sheets, columns, their meaning (Chinese and English) and rules.

One table drives the template (headers, drop-down lists, the explanation sheet), the reader
(which header is which field) and the row checks, so the three never disagree. Column keys are
the API's field names (``foreign_contract.contract_no`` is ``contract.foreign_contract``'s
``contract_no``); two-valued lists (customs ports, discharge ports) are two columns, so that each
can carry a drop-down list.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Kind = Literal["text", "code", "date", "decimal", "int", "bool", "files"]

APPLICATIONS = "applications"
GOODS = "goods"
CONTRACTS = "contracts"
IRON_ORE = "iron_ore_contracts"
IRON_ORE_LINES = "iron_ore_lines"
SHEETS = (APPLICATIONS, GOODS, CONTRACTS, IRON_ORE, IRON_ORE_LINES)
EXPLAIN_SHEET = "说明 columns"
CODES_SHEET = "codes"
REFERENCE = "reference"


@dataclass(frozen=True)
class Column:
    key: str
    zh: str
    en: str
    kind: Kind = "text"
    table: str | None = None  # code table (GET /api/v1/reference/{table})
    required: bool = False  # required for submission (the API's submission-time rule)


def _c(
    key: str, zh: str, en: str, kind: Kind = "text", table: str | None = None, req: bool = False
) -> Column:
    return Column(key, zh, en, kind, table, req)


REF_COLUMN = _c(
    REFERENCE, "引用号", "your reference of the application: unique in the file; keys the other sheets"
)

COLUMNS: dict[str, tuple[Column, ...]] = {
    APPLICATIONS: (
        REF_COLUMN,
        _c("enterprise_code", "申领企业代码", "enterprise (13 digits) an agency acts for; or --enterprise"),
        _c("year", "年度", "licence year; default: this year", "int"),
        _c("one_batch_one_license", "是否一批一证", "one batch one license: yes / no (default no)", "bool"),
        _c(
            "electronic_license",
            "电子许可证",
            "electronic license: yes / no (default from the catalogue)",
            "bool",
        ),
        _c(
            "issuing_agency",
            "发证机构",
            "issuing agency; default from the catalogue",
            "code",
            "issuing_agencies",
        ),
        _c("handler_name", "申请单位经办人", "box 3, handler", req=True),
        _c(
            "import_user_code",
            "进口用户代码",
            "box 5, end user: 13-digit code or 18-char credit code",
            req=True,
        ),
        _c("import_user_name", "进口用户名称", "box 5, end user name", req=True),
        _c("trade_mode", "贸易方式", "box 7, trade mode; default 10", "code", "trade_modes"),
        _c("trade_country", "贸易国(地区)", "box 8, trade country", "code", "countries", True),
        _c("forex_source", "外汇来源", "box 9, forex source; default", "code", "forex_sources"),
        _c("origin_country", "原产地国(地区)", "box 10, origin country", "code", "countries", True),
        _c("customs_port_1", "报关口岸1", "box 11, customs port 1", "code", "customs_ports", True),
        _c("customs_port_2", "报关口岸2", "box 11, customs port 2 (optional)", "code", "customs_ports"),
        _c("commodity_usage", "商品用途", "box 12, commodity usage; default", "code", "commodity_usages"),
        _c("expected_arrival_date", "预计到港时间", "box 13, expected arrival, YYYY-MM-DD", "date", req=True),
        _c(
            "commodity_code",
            "商品代码",
            "box 14, 10-digit HS code on the catalogue",
            "code",
            "commodities",
            True,
        ),
        _c("currency", "单价币别", "currency of the unit prices; default USD", "code", "currencies"),
        _c("remarks", "备注", "box 23, remarks (optional)"),
        _c(
            "attachments",
            "附件",
            "file names in the attachments folder, separated by ';' (PDF/JPEG/PNG/OFD, 1 MB each)",
            "files",
        ),
    ),
    GOODS: (
        REF_COLUMN,
        _c("spec", "商品规格/规格型号", "box 16, specification", req=True),
        _c("unit", "单位", "box 17, unit", "code", "units", True),
        _c("quantity", "数量", "box 18, quantity (> 0)", "decimal", req=True),
        _c("unit_price", "单价", "box 19, unit price in the currency (> 0)", "decimal", req=True),
    ),
    CONTRACTS: (
        REF_COLUMN,
        _c("applicant.enterprise_code", "申领企业代码", "applicant: enterprise code, 13 digits", req=True),
        _c("applicant.name", "企业名称", "applicant: name", req=True),
        _c("applicant.establishment_date", "成立日期", "applicant: establishment date", "date"),
        _c(
            "applicant.registered_capital_wan_yuan",
            "注册资本(万元)",
            "applicant: capital, 10k yuan",
            "decimal",
        ),
        _c("applicant.uscc", "统一社会信用代码", "applicant: unified social credit code, 18 chars", req=True),
        _c("applicant.address", "地址", "applicant: address", req=True),
        _c("applicant.contact", "联系人", "applicant: contact", req=True),
        _c("applicant.phone", "电话", "applicant: phone", req=True),
        _c("applicant.mobile", "手机", "applicant: mobile"),
        _c("applicant.email", "电子邮件", "applicant: e-mail"),
        _c("applicant.fax", "传真", "applicant: fax"),
        _c("applicant.postcode", "邮编", "applicant: postcode"),
        _c(
            "applicant.foreign_trade_filing_no",
            "对外贸易经营者备案登记号",
            "applicant: foreign-trade filing no.",
        ),
        _c("applicant.fie_approval_no", "外商投资企业批准证书号", "applicant: FIE approval certificate no."),
        _c("applicant.business_licence_no", "营业执照号", "applicant: business licence no."),
        _c("foreign_contract.contract_no", "合同号", "foreign contract: number", req=True),
        _c("foreign_contract.foreign_party_name_zh", "外方名称(中文)", "foreign party, Chinese (or English)"),
        _c("foreign_contract.foreign_party_name_en", "外方名称(英文)", "foreign party, English (or Chinese)"),
        _c("foreign_contract.importer_signatory", "进口方签约人", "importer signatory"),
        _c("foreign_contract.producer", "生产商", "producer"),
        _c("foreign_contract.goods_description", "货物描述", "goods description"),
        _c("foreign_contract.signing_date", "签约日期", "signing date", "date", req=True),
        _c("foreign_contract.expiry_date", "有效期至", "expiry date", "date", req=True),
        _c(
            "foreign_contract.total_quantity",
            "合同总数量",
            "total quantity (>= the goods total)",
            "decimal",
            req=True,
        ),
        _c(
            "foreign_contract.total_amount",
            "合同总金额",
            "total amount (>= the goods total value)",
            "decimal",
            req=True,
        ),
        _c(
            "foreign_contract.settlement_currency",
            "结算币种",
            "settlement currency",
            "code",
            "currencies",
            True,
        ),
        _c("foreign_contract.payment_terms", "付款方式", "payment terms"),
        _c("foreign_contract.port_of_departure", "起运港", "port of departure"),
        _c("foreign_contract.port_of_destination", "目的港", "port of destination"),
        _c("foreign_contract.departure_date", "起运日期", "departure date", "date"),
        _c("foreign_contract.expected_arrival_date", "预计到港日期", "expected arrival date", "date"),
        _c(
            "foreign_contract.freight_pricing_method",
            "运费计价方式",
            "freight pricing method",
            "code",
            "freight_pricing_methods",
        ),
        _c("foreign_contract.freight_total_yuan", "运费总额(元)", "freight total, yuan", "decimal"),
        _c("agency_contract.principal", "委托方", "agency contract (when through an agent): principal"),
        _c("agency_contract.agent", "代理方", "agency contract: agent"),
        _c("agency_contract.contract_no", "代理合同号", "agency contract: number"),
        _c("agency_contract.signing_date", "签约日期", "agency contract: signing date", "date"),
        _c("agency_contract.expiry_date", "有效期至", "agency contract: expiry date", "date"),
        _c("agency_contract.consignee_name", "收货人", "agency contract: consignee"),
        _c("agency_contract.contact", "联系人", "agency contract: contact"),
        _c("agency_contract.address", "地址", "agency contract: address"),
        _c("agency_contract.phone", "电话", "agency contract: phone"),
        _c("agency_contract.transport_mode", "国内运输方式", "domestic transport", "code", "transport_modes"),
        _c("agency_contract.waybill_no", "国内运单号", "domestic waybill no."),
        _c("other.end_user_name", "最终用户名称", "end user name"),
        _c("other.end_user_address", "最终用户地址", "end user address"),
        _c("other.end_user_phone", "最终用户电话", "end user phone"),
        _c("other.end_user_fax", "最终用户传真", "end user fax"),
        _c("other.detailed_use", "详细用途", "detailed use of the goods"),
        _c(
            "other.import_change_band",
            "进口量变化",
            "this year's import volume against last year",
            "code",
            "import_change_bands",
        ),
    ),
    IRON_ORE: (
        REF_COLUMN,
        _c("origin_country", "原产地", "origin country", "code", "countries", True),
        _c("trade_country", "贸易国", "trade country", "code", "countries", True),
        _c("contract_no", "进口合同号", "import contract no.", req=True),
        _c("contract_type", "合同类型", "contract type: spot / long-term", "code", "contract_types", True),
        _c("signing_date", "签约日期", "signing date", "date", req=True),
        _c("period_from", "合同期限自", "contract period from", "date", req=True),
        _c("period_to", "合同期限至", "contract period to", "date", req=True),
        _c("enterprise_nature", "企业性质", "trader / producer", "code", "enterprise_natures", True),
        _c("seller_name_zh", "卖方名称(中文)", "seller, Chinese", req=True),
        _c("seller_name_en", "卖方名称(英文)", "seller, English"),
        _c("discharge_port_1", "卸货港1", "discharge port 1", "code", "customs_ports", True),
        _c("discharge_port_2", "卸货港2", "discharge port 2 (optional)", "code", "customs_ports"),
        _c("freight_fob", "FOB海运费(每千吨)", "sea freight per kt under FOB", "decimal"),
        _c("freight_cfr", "CFR海运费(每千吨)", "sea freight per kt under CFR", "decimal"),
        _c("freight_cif", "CIF海运费(每千吨)", "sea freight per kt under CIF", "decimal"),
        _c("freight_other", "其他价格条款运费", "sea freight, other terms", "decimal"),
    ),
    IRON_ORE_LINES: (
        REF_COLUMN,
        _c("category", "品种", "category, e.g. 粉矿 / 块矿 / 球团", req=True),
        _c("name", "名称", "name", req=True),
        _c("grade_fe_pct", "品位(Fe%)", "grade, Fe % (> 0)", "decimal", req=True),
        _c("quantity_kt", "数量(千吨)", "quantity, kt (> 0)", "decimal", req=True),
        _c("unit_price_usd_per_kt", "单价(美元/千吨)", "unit price, USD per kt (> 0)", "decimal", req=True),
    ),
}

SHEET_TITLES = {
    APPLICATIONS: ("申请表", "one row per application"),
    GOODS: ("商品明细", "goods lines, one row each, keyed by the application's reference"),
    CONTRACTS: ("合同信息表", "contract information, one row per application (required to submit)"),
    IRON_ORE: ("铁矿石合同信息表", "iron-ore contract, one row per iron-ore application (HS 2601)"),
    IRON_ORE_LINES: ("铁矿石合同明细", "iron-ore contract lines, keyed by the application's reference"),
}

CODE_TABLES_USED = tuple(
    sorted({c.table for cols in COLUMNS.values() for c in cols if c.table and c.table != "commodities"})
)


def columns_by_key(sheet: str) -> dict[str, Column]:
    return {c.key: c for c in COLUMNS[sheet]}


def sheet_of(name: str) -> str | None:
    """The sheet a file or worksheet name stands for: exact, or a name ending in it
    (``batch-goods.csv`` is the goods sheet); the longest match wins."""
    low = name.lower().replace("-", "_").replace(" ", "_")
    matches = [s for s in SHEETS if low == s or low.endswith("_" + s) or low.endswith("." + s)]
    return max(matches, key=len) if matches else None
