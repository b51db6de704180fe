"""Writes the bad-file corpus (tests/bad_files/*) and the valid baseline it is loaded onto.

The files are committed so the corpus can be read without running anything; this script is
how they were made (the binary ones, .xlsx, .parquet and UTF-16, cannot be typed by hand).
Run it again after changing a file here: `python tests/bad_files/make_corpus.py`.
Every expected outcome lives in manifest.yaml next to the files.
"""

from __future__ import annotations

import codecs
from decimal import Decimal
from pathlib import Path

HERE = Path(__file__).resolve().parent
BASELINE = HERE / "baseline"

# ---- the valid baseline every corpus file is loaded onto ---------------------------------
BASELINE_FILES = {
    "suppliers": (
        "supplier_id,supplier_name,country,size,preferred,payment_terms_days,discount_pct\n"
        "S1,Kartonwerk GmbH,DE,large,yes,30,0.02\n"
        "S2,Byte Parts Ltd,GB,sme,no,60,0\n"
    ),
    "items": (
        "item_id,description,category,unit,safety_stock_qty,lead_time_days\n"
        "IT-1,Carton 40x30,packaging,pcs,100,10\n"
        "IT-2,Toner black,office,pcs,5,3\n"
    ),
    "invoices": (  # 100.00 + 50.00 = 150.00
        "invoice_id,invoice_line,supplier_id,invoice_date,due_date,item_id,quantity,"
        "unit_price,amount,currency\n"
        "INV-100,1,S1,2026-01-05,2026-02-04,IT-1,40,2.5,100.00,EUR\n"
        "INV-100,2,S1,2026-01-05,2026-02-04,IT-2,2,25,50.00,EUR\n"
    ),
    "purchase_orders": (  # 200.00
        "po_id,po_line,po_date,supplier_id,item_id,quantity,unit_price,amount,currency\n"
        "PO-100,1,2026-01-02,S1,IT-1,80,2.5,200.00,EUR\n"
    ),
    "goods_receipts": "po_id,po_line,receipt_date,quantity\nPO-100,1,2026-01-10,80\n",
    "inventory": (  # unit_cost 2.5000
        "snapshot_date,item_id,location,on_hand_qty,unit_cost,currency\n"
        "2026-10-31,IT-1,WH1,120,2.5,EUR\n"
    ),
    "budgets": "period,cost_centre,category,amount,currency\n2026-01,CC1,office,1000.00,EUR\n",
    "contracts": (  # unit_price 2.4000
        "contract_id,supplier_id,category,item_id,start_date,end_date,unit_price,currency\n"
        "C-100,S1,packaging,IT-1,2026-01-01,2026-12-31,2.4,EUR\n"
    ),
}

# ---- CSV corpus: name -> (text, encoding) ------------------------------------------------
INV = (
    "invoice_id,invoice_line,supplier_id,invoice_date,due_date,item_id,quantity,unit_price,"
    "amount,currency\n"
)


def inv(doc: str, line: int, amount: str, **over: str) -> str:
    """One invoices row in the INV header's column order."""
    row = {
        "invoice_id": doc,
        "invoice_line": str(line),
        "supplier_id": "S1",
        "invoice_date": "2026-03-02",
        "due_date": "2026-04-01",
        "item_id": "IT-1",
        "quantity": "1",
        "unit_price": "1",
        "amount": amount,
        "currency": "EUR",
    } | over
    return ",".join(_quoted(v) for v in row.values()) + "\n"


def _quoted(value: str) -> str:
    return f'"{value}"' if any(c in value for c in ',"\n') else value


def with_column(name: str, header: str, row: str, value: str) -> str:
    """A header and one row with one more column at the end."""
    return header.rstrip("\n") + f",{name}\n" + row.rstrip("\n") + f",{value}\n"


PO = "po_id,po_line,po_date,supplier_id,item_id,quantity,unit_price,amount,currency,promised_date\n"
SUP = "supplier_id,supplier_name,country,size,preferred,payment_terms_days,discount_pct\n"
INVENTORY = "snapshot_date,item_id,location,on_hand_qty,unit_cost,currency\n"
CONTRACTS = "contract_id,supplier_id,category,item_id,start_date,end_date,unit_price,currency\n"
LONG_NAME = "Kartonagen " * 500  # 5,500 characters, stripped to 5,499

CSV_FILES: dict[str, tuple[str, str]] = {
    # -- encodings
    "enc_latin1_no_mapping.csv": (
        with_column("category", INV, inv("E-1", 1, "10.00"), "office")
        + inv("E-2", 1, "20.00").rstrip("\n")
        + ",Bürobedarf\n",
        "latin-1",
    ),
    "enc_latin1_mapped.csv": (
        with_column("category", INV, inv("E-1", 1, "10.00"), "Bürobedarf")
        + inv("E-2", 1, "20.00", item_id="IT-2").rstrip("\n")
        + ",Größe\n\n",
        "latin-1",
    ),
    "enc_utf16_bom.csv": (INV + inv("E-3", 1, "1.50") + inv("E-3", 2, "2.25"), "utf-16"),
    "enc_utf16_no_bom.csv": (INV + inv("E-4", 1, "1.50"), "utf-16-le"),
    "enc_utf8_bom.csv": (INV + inv("E-5", 1, "7.77"), "utf-8-sig"),
    # -- delimiters
    "delim_semicolon_no_mapping.csv": (
        INV.replace(",", ";") + inv("D-1", 1, "5.00").replace(",", ";"),
        "utf-8",
    ),
    "delim_semicolon_mapped.csv": (
        INV.replace(",", ";") + inv("D-1", 1, "5.00").replace(",", ";"),
        "utf-8",
    ),
    "delim_tab_in_csv.csv": (
        INV.replace(",", "\t") + inv("D-2", 1, "5.00").replace(",", "\t"),
        "utf-8",
    ),
    "delim_pipe_mapped.txt": (
        INV.replace(",", "|")
        + inv("D-3", 1, "3.00").replace(",", "|")
        + inv("D-3", 2, "4.00", item_id="IT-2").replace(",", "|"),
        "utf-8",
    ),
    # -- shapes
    "shape_header_only.csv": (INV, "utf-8"),
    "shape_empty.csv": ("", "utf-8"),
    "shape_blank_lines_only.csv": ("\n\r\n  \n", "utf-8"),
    "col_missing_required.csv": (
        "invoice_id,invoice_line,supplier_id,invoice_date,currency\nM-1,1,S1,2026-03-02,EUR\n",
        "utf-8",
    ),
    "col_extra.csv": (
        INV.rstrip("\n")
        + ",notes,approver\n"
        + inv("X-1", 1, "11.00").rstrip("\n")
        + ",urgent,kim\n"
        + inv("X-1", 2, "0.99").rstrip("\n")
        + ",,\n",
        "utf-8",
    ),
    "col_renamed.csv": (
        INV.replace("invoice_id", "Invoice No").replace("amount", "Net Amount")
        + inv("R-1", 1, "8.00"),
        "utf-8",
    ),
    "col_renamed_mapped.csv": (
        INV.replace("invoice_id", "Invoice No").replace("amount", "Net Amount")
        + inv("R-1", 1, "8.00")
        + inv("R-1", 2, "9.00"),
        "utf-8",
    ),
    "col_duplicated.csv": (
        INV.rstrip("\n") + ",amount\n" + inv("U-1", 1, "8.00").rstrip("\n") + ",80.00\n",
        "utf-8",
    ),
    "col_duplicated_case.csv": (
        INV.replace("currency", "Currency").rstrip("\n")
        + ",CURRENCY\n"
        + inv("U-2", 1, "8.00").rstrip("\n")
        + ",USD\n",
        "utf-8",
    ),
    # -- dates
    "date_bad.csv": (
        INV
        + inv("T-1", 1, "10.00")
        + inv("T-2", 1, "20.00", invoice_date="2026-02-30")
        + inv("T-3", 1, "30.00", invoice_date="yesterday")
        + inv("T-4", 1, "40.00", invoice_date="46027")  # an Excel serial number
        + inv("T-5", 1, "50.00", due_date="2026-13-01"),
        "utf-8",
    ),
    "date_ambiguous_no_format.csv": (
        INV + inv("A-1", 1, "10.00") + inv("A-2", 1, "20.00", invoice_date="03/04/2026"),
        "utf-8",
    ),
    "date_day_first_mapped.csv": (
        INV
        + inv("A-3", 1, "10.00", invoice_date="03/04/2026", due_date="03/05/2026")
        + inv("A-4", 1, "20.00", invoice_date="2026-04-03")  # ISO is always understood
        + inv("A-5", 1, "30.00", invoice_date="04/13/2026"),  # month 13: not day-first
        "utf-8",
    ),
    "date_future.csv": (
        INV
        + inv("F-1", 1, "10.00", due_date="2099-01-31")  # a far due date is odd, not wrong
        + inv("F-2", 1, "20.00", invoice_date="2099-01-01")
        + inv("F-3", 1, "30.00", invoice_date="2206-01-05"),  # beyond any plausible date
        "utf-8",
    ),
    "date_future_po.csv": (
        PO
        + "P-1,1,2026-03-01,S1,IT-1,10,2.5,25.00,EUR,2030-06-30\n"
        + "P-2,1,2099-03-01,S1,IT-1,10,2.5,25.00,EUR,\n",
        "utf-8",
    ),
    # -- numbers
    "num_decimal_comma_no_mapping.csv": (
        INV
        + inv("N-1", 1, "100.00")
        + inv("N-2", 1, "1.234,56")
        + inv("N-3", 1, "12,50")
        + inv("N-4", 1, "1,500"),  # a thousands comma: one thousand five hundred
        "utf-8",
    ),
    "num_decimal_comma_mapped.csv": (
        INV.replace(",", ";")
        + "N-5;1;S1;2026-03-02;;IT-1;2,5;493,824;1.234,56;EUR\n"
        + "N-5;2;S1;2026-03-02;;IT-1;1;0,44;0,44;EUR\n"
        + "N-5;3;S1;2026-03-02;;IT-1;-100;2,5;250,00-;EUR\n"  # SAP's trailing minus
        + "N-5;4;S1;2026-03-02;;IT-1;1;1.5;1.5;EUR\n",  # a point groups thousands: refused
        "utf-8",
    ),
    "num_thousands.csv": (
        INV
        + inv("K-1", 1, "1,234.56")
        + inv("K-2", 1, "1,234,567.89")
        + inv("K-3", 1, "1 234.56")
        + inv("K-4", 1, "1'234.56")
        + inv("K-5", 1, "12,34.00")
        + inv("K-6", 1, "12.345"),
        "utf-8",
    ),
    "num_currency_symbols.csv": (
        INV
        + inv("Y-1", 1, "-5.00")
        + inv("Y-2", 1, "€12.50")
        + inv("Y-3", 1, "$ 10.00")
        + inv("Y-4", 1, "12.50 EUR")
        + inv("Y-5", 1, "EUR 5.00")
        + inv("Y-6", 1, "=1+2"),
        "utf-8",
    ),
    "qty_negative_zero_po.csv": (
        PO
        + "Q-1,1,2026-03-01,S1,IT-1,10,2.5,25.00,EUR,\n"
        + "Q-1,2,2026-03-01,S1,IT-1,0,2.5,0.00,EUR,\n"  # a cancelled line: zero is allowed
        + "Q-1,3,2026-03-01,S1,IT-1,-4,2.5,-10.00,EUR,\n",
        "utf-8",
    ),
    "qty_negative_zero_inventory.csv": (
        INVENTORY
        + "2026-10-31,IT-2,WH1,0,30.25,EUR\n"  # out of stock: zero on hand is a fact
        + "2026-10-31,IT-1,WH2,-3,2.5,EUR\n"
        + "2026-10-31,IT-2,WH2,4,-1,EUR\n",
        "utf-8",
    ),
    "qty_negative_receipt.csv": (
        "po_id,po_line,receipt_date,quantity\nPO-100,1,2026-01-12,-5\nPO-100,1,2026-01-13,5\n",
        "utf-8",
    ),
    "qty_negative_items.csv": (
        "item_id,description,category,unit,safety_stock_qty,lead_time_days\n"
        "IT-3,Tape,packaging,roll,12.5,7\n"
        "IT-4,Glue,packaging,pcs,-1,7\n"
        "IT-5,Labels,packaging,pcs,3,ten\n",
        "utf-8",
    ),
    "qty_credit_note_invoices.csv": (
        INV + inv("CN-1", 1, "-25.00", quantity="-10", unit_price="2.5") + inv("CN-2", 1, "0.00"),
        "utf-8",
    ),
    # -- duplicate keys
    "dup_keys_in_file_invoices.csv": (
        INV + inv("DK-1", 1, "10.00") + inv("DK-1", 2, "20.00") + inv("DK-1", 1, "99.00"),
        "utf-8",
    ),
    "dup_keys_in_file_suppliers.csv": (
        SUP + "S3,Neu AG,DE,sme,yes,30,0\nS4,Four Ltd,GB,large,no,45,0.01\n"
        "s3,lower-case id,DE,sme,yes,30,0\nS3,Neu AG again,DE,sme,yes,14,0\n",
        "utf-8",
    ),
    "dup_across_a.csv": (INV + inv("XF-1", 1, "10.00") + inv("XF-1", 2, "20.00"), "utf-8"),
    "dup_across_b.csv": (INV + inv("XF-1", 2, "25.00") + inv("XF-2", 1, "5.00"), "utf-8"),
    "dup_of_baseline.csv": (
        INV + inv("INV-100", 2, "55.00", item_id="IT-2") + inv("INV-101", 1, "1.00"),
        "utf-8",
    ),
    # -- references
    "ref_unknown_supplier_invoices.csv": (
        INV
        + inv("RS-1", 1, "10.00", supplier_id="S2")
        + inv("RS-2", 1, "20.00", supplier_id="S99")
        + inv("RS-3", 1, "30.00", item_id="IT-404"),
        "utf-8",
    ),
    "ref_unknown_item_inventory.csv": (
        INVENTORY + "2026-10-31,IT-2,WH1,3,30,EUR\n2026-10-31,IT-99,WH1,3,7.5,EUR\n",
        "utf-8",
    ),
    "ref_unknown_supplier_contracts.csv": (
        CONTRACTS
        + "C-200,S2,office,IT-2,2026-02-01,2027-01-31,24.5,EUR\n"
        + "C-201,S77,office,,2026-02-01,,3.1,EUR\n",
        "utf-8",
    ),
    # -- currencies
    "currency_unknown.csv": (
        INV
        + inv("CU-1", 1, "10.00", currency="eur")
        + inv("CU-2", 1, "20.00", currency="XYZ")
        + inv("CU-3", 1, "30.00", currency="€")
        + inv("CU-4", 1, "40.00", currency="EURO")
        + inv("CU-5", 1, "50.00", currency=""),
        "utf-8",
    ),
    "budgets_bad_period.csv": (
        "period,cost_centre,category,amount,currency\n"
        "2026-02,CC1,office,900.00,EUR\n"
        "2026-13,CC1,office,1.00,EUR\n"
        "Jan 2026,CC1,office,2.00,EUR\n"
        '2026-03,CC1,office,"1,000.50",CHF\n',
        "utf-8",
    ),
    # -- long fields and formulas
    "long_field_suppliers.csv": (
        SUP + "S5,Short name,DE,sme,yes,30,0\n" + f"S6,{LONG_NAME},DE,sme,yes,30,0\n",
        "utf-8",
    ),
    "long_field_invoice_id.csv": (
        INV + inv("L" * 1500, 1, "10.00") + inv("L-2", 1, "2.00"),
        "utf-8",
    ),
    "formula_text_cells_suppliers.csv": (
        SUP
        + 'S7,"=HYPERLINK(""http://evil.example"",""Click"")",DE,sme,yes,30,0\n'
        + "S8,+49 30 1234,DE,sme,yes,30,0\n"
        + "S9,@SUM(A1:A9),DE,sme,yes,30,0\n"
        + "S10,-cmd|' /C calc'!A0,DE,sme,yes,=1+1,0\n",
        "utf-8",
    ),
}

MAPPINGS = """\
# Mappings the corpus is loaded with (tests/trust/test_bad_files.py passes this file).
sources:
  latin1_invoices:
    table: invoices
    encoding: latin-1
  semicolon_invoices:
    table: invoices
    delimiter: semicolon
  pipe_invoices:
    table: invoices
    delimiter: pipe
  renamed_invoices:
    table: invoices
    columns: {invoice_id: Invoice No, amount: Net Amount}
  day_first_invoices:
    table: invoices
    date_format: "%d/%m/%Y"
  decimal_comma_invoices:
    table: invoices
    delimiter: ";"
    decimal_comma: true
  sheet_invoices:
    table: invoices
    sheet: Invoices
"""


# ---- binary files ------------------------------------------------------------------------
def excel_files() -> None:
    import openpyxl

    header = INV.strip().split(",")
    rows = [
        ["XL-1", 1, "S1", "2026-03-02", "2026-04-01", "IT-1", 4, 2.5, 10.0, "EUR"],
        ["XL-1", 2, "S2", "2026-03-02", "2026-04-01", "IT-2", 1, 24.99, 24.99, "EUR"],
        ["XL-2", 1, "S1", "2026-03-03", None, "IT-1", 1, 1, "12,50", "EUR"],  # text cell
    ]
    book = openpyxl.Workbook()
    notes = book.active
    notes.title = "Notes"
    notes.append(["Exported from the ERP on 2026-03-31; data on the next sheet."])
    data = book.create_sheet("Invoices")
    data.append(header)
    for row in rows:
        data.append(row)
    book.save(HERE / "xlsx_several_sheets.xlsx")

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Invoices"
    sheet.append(["Supplier invoices, March 2026"])
    sheet.merge_cells(start_row=1, start_column=1, end_row=1, end_column=len(header))
    sheet.append(header)
    for row in rows[:2]:
        sheet.append(row)
    book.save(HERE / "xlsx_merged_header.xlsx")


def parquet_files() -> None:
    import polars as pl

    frame = pl.DataFrame(
        {
            "invoice_id": [f"PQ-{i}" for i in range(200)],
            "invoice_line": [1] * 200,
            "supplier_id": ["S1"] * 200,
            "invoice_date": ["2026-03-02"] * 200,
            "amount": [Decimal("1.25")] * 200,
            "currency": ["EUR"] * 200,
        },
        schema_overrides={"amount": pl.Decimal(18, 2)},
    )
    whole = HERE / "parquet_whole.tmp"
    frame.write_parquet(whole)
    data = whole.read_bytes()
    whole.unlink()
    (HERE / "parquet_truncated.parquet").write_bytes(data[: len(data) * 2 // 3])
    floats = pl.DataFrame(
        {
            "invoice_id": ["PF-1", "PF-2", "PF-3"],
            "supplier_id": ["S1", "S1", "S2"],
            "invoice_date": ["2026-03-02"] * 3,
            "amount": [12.5, 0.1 + 0.2, 19.99],  # 0.30000000000000004: not a cent amount
            "currency": ["EUR"] * 3,
        }
    )
    floats.write_parquet(HERE / "parquet_float_amounts.parquet")


def main() -> None:
    BASELINE.mkdir(exist_ok=True)
    for table, text in BASELINE_FILES.items():
        (BASELINE / f"{table}.csv").write_text(text, encoding="utf-8")
    for name, (text, encoding) in CSV_FILES.items():
        data = text.encode(encoding)
        if encoding == "utf-16":  # Python writes the platform's order with a BOM: fix LE
            data = codecs.BOM_UTF16_LE + text.encode("utf-16-le")
        (HERE / name).write_bytes(data)
    (HERE / "sources.yaml").write_text(MAPPINGS, encoding="utf-8")
    excel_files()
    parquet_files()


if __name__ == "__main__":
    main()
