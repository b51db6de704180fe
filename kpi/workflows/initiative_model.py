"""A savings initiative as the ledger keeps it: its fields, their rules, and the ledger's refusals.

The model parses what a form or a file gives (blank → None, amounts to their exact decimal
places, known kinds, stages and currencies, dates) and says per field what is wrong.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from kpi.core.currencies import CURRENCIES
from kpi.store.audit_log import audit_text
from kpi.store.schema import (
    FINANCE_STATUSES,
    KINDS,
    MONEY_COLUMNS,
    STAGES,
    VERDICT_COLUMNS,
)

# Fields whose change alters the money an initiative claims: editing one after finance
# ruled sends the initiative back to pending, and whoever changed one since the last verdict
# may not judge it. Finance's fields are its verdict. Both are named in kpi.store.schema, so
# that a load (kpi.ingest) applies the same rules.
MONEY_FIELDS: tuple[str, ...] = MONEY_COLUMNS
FINANCE_FIELDS: tuple[str, ...] = VERDICT_COLUMNS
DECISIONS: tuple[str, ...] = ("accepted", "rejected")
PRICED_KINDS: tuple[str, ...] = ("price_reduction", "cost_avoidance")


class InitiativeError(ValueError):
    """A save or a verdict refused by a rule of the ledger; `field` names the field at fault."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


# ---------------------------------------------------------------------------------------
# The model
# ---------------------------------------------------------------------------------------


def blank_to_none(value: object) -> object:
    """Text fields: surrounding spaces go, and an empty text means 'not given'."""
    if isinstance(value, str):
        value = value.strip()
        return value or None
    return value


def _one_of(choices: tuple[str, ...], default: str | None = None, required: str = ""):
    """One of `choices` (case ignored); empty means `default`, or is refused when `required`."""

    def check(value: object) -> object:
        value = blank_to_none(value)
        if value is None and required:
            raise ValueError(f"choose the {required}: one of {', '.join(choices)}")
        if value is None:
            return default
        text = str(value).lower()
        if text not in choices:
            raise ValueError(f"'{value}' is not one of {', '.join(choices)}")
        return text

    return check


def _amount(places: int, what: str):
    """A non-negative Decimal with at most `places` decimals (the store keeps no more)."""

    def check(value: Decimal | None) -> Decimal | None:
        if value is None:
            return None
        if not value.is_finite():
            raise ValueError(f"{what} must be a number")
        if value < 0:
            raise ValueError(f"{what} cannot be negative (got {value})")
        if -value.normalize().as_tuple().exponent > places:  # type: ignore[operator]
            raise ValueError(f"{what} has more than {places} decimals (got {value})")
        if value >= Decimal(10) ** (18 - places):
            raise ValueError(f"{what} is too large (got {value})")
        return value

    return check


def _currency(value: object) -> str:
    text = str(blank_to_none(value) or "").upper()
    if not text:
        raise ValueError("give the currency of the prices (an ISO 4217 code such as EUR)")
    if text not in CURRENCIES:
        raise ValueError(f"'{text}' is not an ISO 4217 currency code this store knows")
    return text


Text = Annotated[str | None, BeforeValidator(blank_to_none)]
Price = Annotated[
    Decimal | None, BeforeValidator(blank_to_none), AfterValidator(_amount(4, "a price"))
]
ChangePct = Annotated[Decimal | None, BeforeValidator(blank_to_none)]
Volume = Annotated[
    Decimal | None, BeforeValidator(blank_to_none), AfterValidator(_amount(3, "the volume"))
]


def _date(value: object) -> object:
    value = blank_to_none(value)
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise ValueError(f"'{value}' is not a date (use YYYY-MM-DD)") from None
    return value


OptionalDate = Annotated[date | None, BeforeValidator(_date)]
Kind = Annotated[str, BeforeValidator(_one_of(KINDS, required="kind"))]
Currency = Annotated[str, BeforeValidator(_currency)]


class Initiative(BaseModel):
    """One row of `savings_initiatives`, checked field by field and across fields.

    Store-dependent rules (the supplier and item exist, the item is in the category) are
    checked by `save_initiative`. `finance_status` and `finance_note` belong to finance:
    they are shown here but only `validate_initiative` changes them.
    """

    model_config = ConfigDict(extra="forbid", validate_default=True)

    initiative_id: Text = None
    title: Text = None
    kind: Kind = None  # type: ignore[assignment]  # refused when missing, with a message
    category: Text = None
    supplier_id: Text = None
    item_id: Text = None
    baseline_unit_price: Price = None
    quoted_unit_price: Price = None
    negotiated_unit_price: Price = None
    expected_volume: Volume = None
    currency: Currency = None  # type: ignore[assignment]  # as kind
    start_date: OptionalDate = None
    end_date: OptionalDate = None
    owner: Text = None
    stage: Annotated[str | None, BeforeValidator(_one_of(STAGES))] = "identified"
    finance_status: Annotated[str, BeforeValidator(_one_of(FINANCE_STATUSES, "pending"))] = (
        "pending"
    )
    finance_note: Text = None
    # a category-wide price reduction's price change in percent: -5 means 5 % lower
    price_change_pct: ChangePct = None

    @field_validator("initiative_id")
    @classmethod
    def _id_shape(cls, value: str | None) -> str | None:
        if value is not None and (len(value) > 64 or not value.isprintable()):
            raise ValueError("an initiative id is at most 64 printable characters")
        return value

    @field_validator("title")
    @classmethod
    def _title_given(cls, value: str | None) -> str | None:
        if value is None:
            raise ValueError("give the initiative a title (what is being negotiated)")
        if len(value) > 200:
            raise ValueError("keep the title under 200 characters")
        return value

    @field_validator("supplier_id")
    @classmethod
    def _supplier_for_priced(cls, value: str | None, info: ValidationInfo) -> str | None:
        kind = info.data.get("kind")
        if value is None and kind in PRICED_KINDS:
            raise ValueError(
                f"a {kind.replace('_', ' ')} needs the supplier: its invoices are where the "
                "saving is measured"
            )
        return value

    @field_validator("item_id")
    @classmethod
    def _scope_for_priced(cls, value: str | None, info: ValidationInfo) -> str | None:
        kind = info.data.get("kind")
        if value is None and kind in PRICED_KINDS and not info.data.get("category"):
            raise ValueError(
                f"a {kind.replace('_', ' ')} needs the item (or at least the category) whose "
                "invoice lines it covers"
            )
        return value

    @field_validator("baseline_unit_price")
    @classmethod
    def _baseline_for_reduction(cls, value: Decimal | None, info: ValidationInfo):
        category_wide = info.data.get("item_id") is None and "item_id" in info.data
        if category_wide and info.data.get("kind") in PRICED_KINDS:
            if value is not None:
                raise ValueError(
                    "a category-wide initiative cannot hold one baseline price for every item "
                    "of the category: leave it empty and give price_change_pct (e.g. -5 for "
                    "5 % lower), or record one initiative per item with its baseline"
                )
            return value
        if value is None and info.data.get("kind") == "price_reduction":
            raise ValueError("a price reduction needs the baseline unit price (paid before)")
        return value

    @field_validator("quoted_unit_price")
    @classmethod
    def _quote_for_avoidance(cls, value: Decimal | None, info: ValidationInfo):
        if value is None and info.data.get("kind") == "cost_avoidance":
            raise ValueError("a cost avoidance needs the quoted unit price (the supplier's ask)")
        return value

    @field_validator("negotiated_unit_price")
    @classmethod
    def _negotiated_below_reference(cls, value: Decimal | None, info: ValidationInfo):
        kind = info.data.get("kind")
        if kind not in PRICED_KINDS:
            return value
        if info.data.get("item_id") is None and "item_id" in info.data:
            if value is not None and kind == "price_reduction":
                raise ValueError(
                    "a category-wide price reduction states its change in percent "
                    "(price_change_pct), not one negotiated price for every item: leave it empty"
                )
            return value
        if value is None:
            raise ValueError(f"a {kind.replace('_', ' ')} needs the negotiated unit price")
        ref_field = "baseline_unit_price" if kind == "price_reduction" else "quoted_unit_price"
        ref = info.data.get(ref_field)
        if ref is not None and value > ref:
            raise ValueError(
                f"the negotiated price {value} is above the {ref_field.split('_')[0]} price "
                f"{ref}: that is no {kind.replace('_', ' ')}"
            )
        return value

    @field_validator("end_date")
    @classmethod
    def _end_after_start(cls, value: date | None, info: ValidationInfo) -> date | None:
        start = info.data.get("start_date")
        if value is not None and start is not None and value < start:
            raise ValueError(f"the end date {value} is before the start date {start}")
        return value

    @field_validator("price_change_pct")
    @classmethod
    def _category_wide_by_percent(cls, value: Decimal | None, info: ValidationInfo):
        """An item's initiative states its prices; a category-wide one a percent change,
        never one price for every item of the category (a 20 EUR mouse would 'save' 480
        against a 500 EUR baseline)."""
        kind, item = info.data.get("kind"), info.data.get("item_id")
        if kind not in PRICED_KINDS or "item_id" not in info.data:
            return value
        if item is not None:
            if value is not None:
                raise ValueError(
                    "an item's initiative states its baseline or quoted price; leave "
                    "price_change_pct empty (it is for category-wide price reductions)"
                )
            return value
        if kind == "cost_avoidance":
            raise ValueError(
                "a cost avoidance names the item whose quoted price it avoided: one quoted "
                "price cannot stand for every item of a category (record one per item)"
            )
        if value is None:
            raise ValueError(
                "a category-wide price reduction states its price change in percent "
                "(price_change_pct, e.g. -5 for 5 % lower), not one baseline price for "
                "every item of the category; or record one initiative per item with its "
                "baseline price"
            )
        if not value.is_finite() or not Decimal(-100) < value < 0:
            raise ValueError(
                f"price_change_pct is the price change in percent, above -100 and below 0 "
                f"for a reduction (-5 for 5 % lower), got {value}"
            )
        if -value.normalize().as_tuple().exponent > 4:  # type: ignore[operator]
            raise ValueError(f"price_change_pct has more than 4 decimals (got {value})")
        return value


def field_problems(exc: ValidationError) -> dict[str, str]:
    """The problems of a refused Initiative, one plain sentence per field (for a form)."""
    out: dict[str, str] = {}
    for err in exc.errors():
        name = ".".join(str(part) for part in err["loc"]) or "initiative"
        msg = str(err["msg"]).removeprefix("Value error, ")
        out[name] = f"{out[name]}; {msg}" if name in out else msg
    return out


def numbers_hash(initiative: Initiative | Mapping[str, Any]) -> str:
    """A fingerprint of an initiative's money fields as a reviewer is shown them.

    The review form passes it with the verdict (`validate_initiative(numbers_seen=...)`); a
    verdict is refused when the stored numbers no longer give the same fingerprint, and the
    verdict's audit row keeps it. Values are taken as the audit log writes them, so 11.0000
    and 11.00 (or a date and its ISO text) give the same fingerprint.
    """
    row = initiative.model_dump() if isinstance(initiative, BaseModel) else initiative
    text = "\n".join(
        f"{name}={audit_text(blank_to_none(row.get(name)), name) or ''}" for name in MONEY_FIELDS
    )
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def money_summary(row: Mapping[str, Any]) -> str:
    """The money fields as one line for a message: 'baseline_unit_price 11.00, ...'."""
    parts = [
        f"{name} {audit_text(row.get(name), name)}"
        for name in MONEY_FIELDS
        if row.get(name) is not None
    ]
    return ", ".join(parts)
