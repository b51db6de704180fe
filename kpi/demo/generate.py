"""Seeded demo data: a realistic store that fills every canonical table, with stories to find.

`build_demo` invents the procurement of a mid-sized European manufacturer from January 2023
to October 2026 (data as of 2026-10-31, reporting currency EUR, fiscal year = calendar
year): suppliers, items, cost centres, purchase orders and their goods receipts, invoices
and payments, budgets, stock snapshots, contracts, savings initiatives, procurement's price
outlook and exchange rates. The same seed and scale give the same store. Every table is
drawn with numpy in whole arrays (no loop over lines) and reaches DuckDB as an Arrow frame,
all in one transaction.

Four stories are planted so the app has something true to show (`STORIES` names them):
1. Packaging: the 2025 tender cut unit prices ~8 %, yet spend rose: volume grew ~25 %.
2. Large preferred suppliers are paid in ~20 days although their terms are 60 days.
3. Critical MRO spares have not moved for over 180 days, yet sit at or below safety stock.
4. CC-3030 Marketing & Events overruns its FY2026 budget on invoices with no PO.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import numpy as np
import polars as pl

from kpi.store.database import Store
from kpi.store.schema import TABLES, Table

FIRST_DAY = date(2023, 1, 1)
AS_OF = date(2026, 10, 31)  # the data's "today": activity up to here, none after
HORIZON = date(2026, 12, 31)  # orders keep flowing virtually to here, so open POs exist
FX_FROM = date(2022, 12, 1)
YEARS = (2023, 2024, 2025, 2026)
N_MONTHS = 48  # 2023-01 .. 2026-12 (the last two exist only as open orders and budgets)
LINES_AT_SCALE_1 = 200_000
QTY_SIGMA = 0.35  # spread of one order line's quantity around the item's usual quantity
CURRENCIES = ("EUR", "USD", "GBP")
REFERENCE_RATE = (1.0, 0.92, 1.16)  # EUR per unit, used to quote prices in USD and GBP
LOCATIONS = ("Hamburg plant", "Lyon plant", "Venlo warehouse")
PO_STATUSES = ("closed", "received", "partially_received", "open")  # closed = invoiced

PACKAGING = "Packaging"
PACKAGING_TENDER_START = date(2025, 4, 1)
MAVERICK_COST_CENTRE = "CC-3030"

STORIES = {
    "packaging_price_vs_volume": "Packaging: unit prices of the 2025 tender items fall ~8 % "
    "from 2025-04-01 against baseline, while volume grows ~25 % FY2025 over FY2024, so "
    "Packaging spend still rises.",
    "fast_paid_segment": "Large preferred suppliers have 60-day terms but are paid in ~20 days.",
    "slow_safety_stock": "Critical MRO spares (criticality high, long lead times) have no "
    "issue for over 180 days but hold no more than safety stock: not obsolete.",
    "maverick_cost_centre": "CC-3030 Marketing & Events: invoices with no PO grow strongly "
    "in FY2026, so actual spend exceeds budget.",
}

# Decimal columns travel as scaled integers and become DECIMAL in SQL, exactly.
_SCALE = {"money": 2, "price": 4, "qty": 3, "pct": 4, "rate": 8}
_EPOCH = date(1970, 1, 1)


# ---- the catalogue: categories, their items and their suppliers ---------------------------
@dataclass(frozen=True)
class ItemGroup:
    bases: tuple[str, ...]
    variants: tuple[str, ...]
    unit: str
    price: tuple[float, float]  # EUR per unit, drawn log-uniformly
    qty: tuple[float, float]  # typical quantity on one order line
    decimals: int = 0  # quantity decimals
    critical_spares: bool = False


def _g(bases: str, variants: str, unit: str, price: tuple, qty: tuple, **kw: object) -> ItemGroup:
    return ItemGroup(tuple(bases.split("|")), tuple(variants.split("|")), unit, price, qty, **kw)


@dataclass(frozen=True)
class Category:
    name: str
    n_items: int
    n_suppliers: int
    line_share: float  # share of invoice lines
    maverick_share: float  # share of its documents invoiced without a PO
    stocked_share: float  # share of its items held in stock
    lead_days: tuple[int, int]
    inflation: tuple[float, float, float]  # list-price change on 1 January 2024, 2025, 2026
    criticality: tuple[float, float, float]  # P(high), P(medium), P(low)
    lines_p: float  # a line opens a new document with this chance: ~1/lines_p lines each
    countries: str
    stems: tuple[str, ...]
    groups: tuple[ItemGroup, ...] = field(default=())


# fmt: off
CATEGORIES: tuple[Category, ...] = (
    Category(
        "Raw materials", 128, 26, 0.13, 0.01, 0.6, (20, 45), (0.02, 0.04, 0.03),
        (0.25, 0.5, 0.25), 0.6, "goods", ("Metals", "Steel Service", "Polymers", "Alloys"),
        (
            _g("Steel sheet DC01|Steel sheet S235JR|Stainless sheet 1.4301|"
               "Aluminium sheet EN AW-5754|Galvanised sheet DX51D",
               "0.8 mm|1.0 mm|1.5 mm|2.0 mm|3.0 mm|4.0 mm", "kg", (0.9, 4.5), (800, 12000)),
            _g("PP granulate|HDPE granulate|ABS granulate|PA6 GF30 granulate|PC granulate|"
               "POM granulate", "natural|black|white|grey RAL 7035|UV-stabilised", "kg",
               (1.2, 4.8), (1000, 15000)),
            _g("Aluminium profile 6060|Steel round bar C45|Brass rod CuZn39Pb3|"
               "Copper busbar Cu-ETP|Stainless bar 1.4404",
               "Ø10 mm|Ø16 mm|Ø20 mm|Ø25 mm|Ø32 mm|Ø40 mm", "kg", (2.0, 11.0), (300, 5000)),
            _g("Epoxy resin|Powder coating|PU foam system|Silicone compound|Industrial adhesive",
               "type A|type B|fast cure|food grade", "kg", (4.0, 22.0), (100, 1500)),
            _g("Steel tube E235|Stainless tube 1.4307|Copper tube",
               "12x1 mm|18x1.5 mm|22x1.5 mm|28x2 mm|35x2 mm|42x2 mm", "kg", (2.5, 12.0),
               (200, 3000)),
        ),
    ),
    Category(
        PACKAGING, 95, 12, 0.12, 0.02, 0.75, (10, 25), (0.04, 0.03, 0.02), (0.0, 0.4, 0.6),
        0.45, "goods", ("Packaging", "Cartonnage", "Films", "Pallets"),
        (
            _g("Corrugated box|Double-wall box|Die-cut tray",
               "300x200x150|400x300x200|400x300x300|600x400x300|600x400x400|800x600x400|"
               "1200x800x600", "pcs", (0.35, 3.8), (800, 4000)),
            _g("Stretch film|Shrink film|PE bag roll|Bubble wrap",
               "23 µm|30 µm|50 µm|500 mm|750 mm|1500 mm", "roll", (6.0, 45.0), (20, 400)),
            _g("Euro pallet 1200x800|Industrial pallet 1200x1000|Half pallet 800x600|"
               "Pallet collar|Plastic pallet", "new|used grade A|heat-treated ISPM 15", "pcs",
               (6.0, 35.0), (50, 600)),
            _g("Shipping label|Product label|Barcode label|Warning label",
               "100x150 mm|100x50 mm|70x35 mm|A6", "roll", (8.0, 40.0), (10, 200)),
            _g("Packing tape|Strapping band PP|Strapping band PET|Edge protector|Void fill paper",
               "standard|heavy duty|recycled|printed", "pcs", (1.5, 25.0), (50, 1000)),
        ),
    ),
    Category(
        "MRO spares", 256, 30, 0.17, 0.06, 0.3, (5, 30), (0.03, 0.025, 0.02), (0.1, 0.5, 0.4),
        0.4, "goods", ("Industrial Supply", "Bearings", "Hydraulics", "Automation"),
        (
            _g("Deep groove ball bearing|Taper roller bearing|Spherical roller bearing|"
               "Pillow block bearing", "6204-2RS|6205-2RS|6206-2RS|6306-2Z|32208|22210|UCP 205|"
               "UCP 208", "pcs", (4.0, 180.0), (2, 60)),
            _g("V-belt SPA|V-belt SPB|Timing belt HTD 8M|Roller chain 08B-1|Roller chain 12B-1",
               "1000 mm|1250 mm|1600 mm|2000 mm|2500 mm", "pcs", (8.0, 120.0), (2, 30)),
            _g("Proximity sensor|Photoelectric sensor|Pressure transmitter|"
               "Temperature sensor PT100|Limit switch|Safety light curtain",
               "PNP|NPN|IO-Link|4-20 mA|ATEX", "pcs", (35.0, 900.0), (1, 20)),
            _g("Hydraulic seal kit|Pneumatic cylinder|Solenoid valve|Ball valve|Hydraulic hose|"
               "Filter element", "DN15|DN25|DN40|Ø32|Ø50|Ø63", "pcs", (12.0, 450.0), (1, 40)),
            _g("Contactor|Circuit breaker|Motor protection switch|Relay|Fuse NH00",
               "10 A|16 A|25 A|40 A|63 A", "pcs", (6.0, 220.0), (2, 50)),
            _g("Lubricating grease|Gear oil ISO VG 220|Hydraulic oil HLP 46|Cutting fluid|"
               "Cleaning solvent", "1 kg|5 l|20 l|208 l drum", "pcs", (9.0, 900.0), (1, 30)),
            _g("Hex bolt DIN 933|Socket screw DIN 912|Hex nut DIN 934|Washer DIN 125",
               "M6|M8|M10|M12|M16|M20", "box", (4.0, 60.0), (2, 40)),
            _g("Torque wrench|Socket set|HSS drill bit set|Cutting disc|Grinding disc|Saw blade",
               "small|medium|large|professional", "pcs", (5.0, 380.0), (1, 25)),
            _g("Spindle motor|Gearbox|Servo drive|PLC CPU module|Hydraulic pump|"
               "Frequency inverter|Extruder screw|Vacuum pump",
               "line A|line B|line C|press 2|extruder 1", "pcs", (1500.0, 18000.0), (1, 2),
               critical_spares=True),
        ),
    ),
    Category(
        "IT hardware", 63, 14, 0.05, 0.08, 0.0, (5, 20), (0.0, 0.02, 0.03), (0.0, 0.3, 0.7),
        0.5, "tech", ("IT Systems", "Computers", "Networks", "Devices"),
        (
            _g('Laptop 14"|Laptop 16"|Desktop PC|Thin client|Rugged tablet',
               "standard|performance|engineering", "pcs", (450.0, 2600.0), (1, 15)),
            _g('Monitor 24"|Monitor 27"|Docking station|Headset|Keyboard and mouse set',
               "standard|ergonomic|USB-C", "pcs", (20.0, 450.0), (1, 25)),
            _g("Network switch 24-port|Network switch 48-port|Wi-Fi access point|"
               "Firewall appliance|Server rack 42U|UPS 3 kVA", "standard|enterprise|industrial",
               "pcs", (250.0, 6500.0), (1, 6)),
            _g("Barcode scanner|Label printer|Mobile computer|Smartphone|Rugged laptop",
               "standard|industrial|enterprise", "pcs", (150.0, 2200.0), (1, 12)),
        ),
    ),
    Category(
        "Software", 36, 12, 0.03, 0.05, 0.0, (1, 5), (0.05, 0.06, 0.07), (0.0, 0.5, 0.5),
        0.7, "tech", ("Software", "Cloud", "Systems", "Analytics"),
        (
            _g("ERP user licence|CAD seat|PLM seat|Office suite licence|Endpoint security licence|"
               "BI analytics seat|Cloud storage TB|Service desk agent seat|E-signature plan|"
               "MES module licence|Video conferencing licence|Design suite licence",
               "annual|monthly|3-year", "licence", (8.0, 1800.0), (1, 40)),
        ),
    ),
    Category(
        "Logistics", 40, 18, 0.10, 0.05, 0.0, (1, 4), (0.03, 0.04, 0.03), (0.0, 0.3, 0.7),
        0.6, "local", ("Logistics", "Transport", "Freight", "Spedition"),
        (
            _g("Full truck load|Less-than-truckload|Sea freight 40ft container|Air freight|"
               "Courier parcel|Pallet storage|Customs clearance|Express delivery",
               "domestic|DE-FR|DE-PL|DE-IT|EU-US", "shipment", (15.0, 3500.0), (1, 8)),
        ),
    ),
    Category(
        "Facilities", 36, 16, 0.06, 0.12, 0.0, (3, 10), (0.04, 0.04, 0.035), (0.0, 0.2, 0.8),
        0.7, "local", ("Facility Services", "Cleaning", "Security", "Building Services"),
        (
            _g("Office cleaning|Production hall cleaning|Security guard service|"
               "HVAC maintenance|Elevator maintenance|Fire safety inspection|Waste disposal|"
               "Landscaping|Pest control", "Hamburg|Lyon|Venlo|Headquarters", "service",
               (150.0, 6500.0), (1, 4)),
        ),
    ),
    Category(
        "Marketing", 30, 16, 0.04, 0.30, 0.0, (10, 30), (0.02, 0.03, 0.03), (0.0, 0.1, 0.9),
        0.7, "local", ("Media", "Creative", "Events", "Print"),
        (
            _g("Trade fair booth|Printed brochures|Online advertising campaign|"
               "Agency creative hours|Product photography|Promotional merchandise|"
               "Customer event catering|PR retainer|Video production|Market research study",
               "small|medium|large", "job", (900.0, 7000.0), (1, 3)),
        ),
    ),
    Category(
        "Professional services", 30, 20, 0.05, 0.22, 0.0, (5, 15), (0.04, 0.045, 0.04),
        (0.0, 0.3, 0.7), 0.7, "advice", ("Consulting", "Partners", "Advisory", "Associates"),
        (
            _g("Management consulting|IT consulting|Training|Engineering services|"
               "Interim management", "junior day|senior day|partner day", "day",
               (700.0, 2400.0), (1, 10)),
            _g("Legal advice|Tax advice|Patent attorney|Translation",
               "junior hour|senior hour|partner hour", "hour", (90.0, 450.0), (2, 30)),
            _g("Annual audit|Recruitment|Certification audit", "fee", "fee", (3000.0, 25000.0),
               (1, 1)),
        ),
    ),
    Category(
        "Energy", 12, 6, 0.03, 0.02, 0.0, (1, 5), (-0.18, -0.06, 0.03), (1.0, 0.0, 0.0),
        0.8, "local", ("Energy", "Power", "Utilities", "Fuels"),
        (
            _g("Electricity|Natural gas", "Hamburg plant|Lyon plant|Venlo warehouse|Headquarters",
               "MWh", (70.0, 260.0), (20, 600), decimals=3),
            _g("Diesel|Heating oil", "Hamburg plant|Lyon plant", "litre", (1.1, 1.9),
               (2000, 20000)),
        ),
    ),
    Category(
        "Office supplies", 120, 10, 0.09, 0.15, 0.15, (2, 5), (0.03, 0.02, 0.02),
        (0.0, 0.0, 1.0), 0.35, "goods", ("Office", "Office Supplies", "Paper"),
        (
            _g("Copy paper A4 80 g|Copy paper A3 80 g|Notebook A5|Ring binder|Envelope C4|"
               "Sticky notes|Ballpoint pens|Whiteboard markers|Toner cartridge|Ink cartridge|"
               "Stapler|File folder|Desk organiser|Archive box|Flip chart pad",
               "standard|recycled|premium|bulk pack|assorted colours|eco", "pack", (1.5, 85.0),
               (2, 120)),
            _g("Batteries AA|Batteries AAA|Label tape|USB stick 64 GB|Cable ties",
               "pack of 10|pack of 50|pack of 100|economy|branded|industrial", "pack",
               (2.0, 40.0), (2, 60)),
        ),
    ),
    Category(
        "Lab consumables", 135, 20, 0.10, 0.10, 0.25, (5, 15), (0.03, 0.035, 0.03),
        (0.0, 0.5, 0.5), 0.4, "goods", ("Scientific", "Labware", "Diagnostics", "Life Sciences"),
        (
            _g("Nitrile gloves|Pipette tips|Centrifuge tubes|Petri dishes|Cryo vials|"
               "Filter paper|Syringe filters|Weighing boats|Sample bags|Microplates",
               "sterile|non-sterile|pack of 100|pack of 500|case of 1000", "pack", (5.0, 180.0),
               (1, 50)),
            _g("Buffer solution pH 4|Buffer solution pH 7|Ethanol 96 %|Isopropanol|Acetone|"
               "Methanol HPLC grade|Sodium hydroxide solution|Hydrochloric acid 1 M|"
               "Reference standard|Calibration solution", "500 ml|1 l|2.5 l|5 l|25 l", "pcs",
               (8.0, 600.0), (1, 30)),
            _g("Safety goggles|Lab coat|FFP2 mask|Disposable apron|Spill kit", "S|M|L", "pcs",
               (3.0, 140.0), (2, 50)),
            _g("Glass beaker|Volumetric flask|Measuring cylinder|Erlenmeyer flask",
               "50 ml|100 ml|250 ml|500 ml|1000 ml", "pcs", (4.0, 60.0), (2, 40)),
        ),
    ),
)

COUNTRY_MIX: dict[str, dict[str, float]] = {
    "goods": {"DE": .34, "FR": .12, "NL": .10, "IT": .10, "ES": .06, "PL": .12, "US": .06,
              "GB": .05, "SE": .05},
    "tech": {"DE": .25, "FR": .05, "NL": .05, "IT": .02, "ES": .02, "PL": .03, "US": .35,
             "GB": .15, "SE": .08},
    "advice": {"DE": .35, "FR": .10, "NL": .08, "IT": .04, "ES": .03, "PL": .03, "US": .15,
               "GB": .20, "SE": .02},
    "local": {"DE": .45, "FR": .22, "NL": .15, "IT": .03, "ES": .02, "PL": .07, "US": .03,
              "GB": .03},
}
COUNTRY_CURRENCY = {"US": "USD", "GB": "GBP"}  # everyone else invoices in EUR
LEGAL_FORMS = {  # (small company, large company, small company)
    "DE": ("GmbH", "AG", "GmbH & Co. KG"), "FR": ("SARL", "SA", "SAS"),
    "NL": ("B.V.", "N.V.", "B.V."), "IT": ("S.r.l.", "S.p.A.", "S.r.l."),
    "ES": ("S.L.", "S.A.", "S.L."), "PL": ("Sp. z o.o.", "S.A.", "Sp. z o.o."),
    "US": ("LLC", "Inc.", "Corp."), "GB": ("Ltd", "plc", "Ltd"), "SE": ("AB", "AB", "AB"),
}
SURNAMES = {
    "DE": "Berger|Kessler|Brandt|Hoffmann|Wagner|Krüger|Vogel|Schuster|Lindner|Hartmann|Seidel|"
    "Rhein|Weser|Alpen|Harz|Elbe",
    "FR": "Dupont|Moreau|Lefèvre|Garnier|Rousseau|Fontaine|Chevalier|Loire|Rhône|Provence",
    "NL": "Van Dijk|De Vries|Bakker|Visser|Smit|Mulder|Dekker|Hollandia|Zeeland",
    "IT": "Rossi|Bianchi|Ferrari|Colombo|Ricci|Marino|Greco|Brenta|Adige",
    "ES": "García|Navarro|Ortega|Molina|Serrano|Iberia|Ebro",
    "PL": "Nowak|Kowalski|Wiśniewski|Zieliński|Wójcik|Vistula|Tatra|Mazur",
    "US": "Anderson|Baxter|Carter|Summit|Liberty|Keystone|Pioneer|Granite|Hudson",
    "GB": "Whitfield|Ashford|Pemberton|Thames|Sterling|Crown|Harrow",
    "SE": "Lindqvist|Berg|Nordström|Dahl|Ek|Viking",
}

COST_CENTRES = (
    ("CC-1010", "Production Line A"), ("CC-1020", "Production Line B"),
    ("CC-1030", "Production Line C"), ("CC-1040", "Assembly"), ("CC-1050", "Packaging Line"),
    ("CC-1060", "Quality Assurance"), ("CC-1070", "Maintenance"),
    ("CC-1080", "Warehouse & Logistics"), ("CC-2010", "R&D Laboratory"),
    ("CC-2020", "Product Engineering"), ("CC-3010", "Sales DACH"), ("CC-3020", "Sales Europe"),
    ("CC-3030", "Marketing & Events"), ("CC-3040", "Customer Service"),
    ("CC-4010", "Finance & Controlling"), ("CC-4020", "Human Resources"),
    ("CC-4030", "IT Services"), ("CC-4040", "Legal & Compliance"), ("CC-4050", "Procurement"),
    ("CC-4060", "Facility Management"),
)
# Which cost centres buy from which category, with what weight.
_OFFICES = {c: 1.0 for c in ("CC-2020", "CC-3010", "CC-3020", "CC-3030", "CC-3040", "CC-4010",
                             "CC-4020", "CC-4030", "CC-4040", "CC-4050", "CC-4060")}
CC_AFFINITY: dict[str, dict[str, float]] = {
    "Raw materials": {"CC-1010": 3, "CC-1020": 3, "CC-1030": 2, "CC-1040": 1.5},
    PACKAGING: {"CC-1050": 5, "CC-1010": 1, "CC-1020": 1, "CC-1080": 1.5},
    "MRO spares": {"CC-1070": 6, "CC-1010": 1, "CC-1020": 1, "CC-1030": 1, "CC-1040": 0.5,
                   "CC-1050": 0.5, "CC-4060": 0.5},
    "IT hardware": {"CC-4030": 5, "CC-2020": 1, "CC-3010": 0.5, "CC-3020": 0.5, "CC-4010": 0.5,
                    "CC-1060": 0.3, "CC-2010": 0.3},
    "Software": {"CC-4030": 5, "CC-2020": 1.5, "CC-4010": 1, "CC-3030": 0.5},
    "Logistics": {"CC-1080": 5, "CC-3010": 1.5, "CC-3020": 1.5, "CC-1050": 0.5},
    "Facilities": {"CC-4060": 6, "CC-1080": 0.5},
    "Marketing": {"CC-3030": 5, "CC-3010": 1, "CC-3020": 1},
    "Professional services": {"CC-4040": 2, "CC-4010": 2, "CC-4020": 1, "CC-4030": 1,
                              "CC-3030": 1, "CC-4050": 0.5, "CC-2020": 0.5},
    "Energy": {"CC-4060": 3, "CC-1010": 1, "CC-1020": 1, "CC-1030": 1},
    "Office supplies": _OFFICES,
    "Lab consumables": {"CC-2010": 4, "CC-1060": 3},
}
BUYERS = {
    "Raw materials": ("markus.weber", "julia.nowak"), PACKAGING: ("lena.hoffmann",),
    "MRO spares": ("tobias.klein", "ana.garcia"), "IT hardware": ("sophie.martin",),
    "Software": ("sophie.martin",), "Logistics": ("jan.devries",),
    "Facilities": ("claire.dubois",), "Marketing": ("elena.rossi",),
    "Professional services": ("elena.rossi",), "Energy": ("claire.dubois",),
    "Office supplies": ("erik.lindqvist",), "Lab consumables": ("erik.lindqvist", "ana.garcia"),
}
# Procurement's expected price change (percent points) for FY2026 and FY2027, with a note.
PRICE_OUTLOOK = {
    "Raw materials": (3.0, 3.5, "Steel and polymer indices firming; energy surcharges persist",
                      "Mill capacity cuts announced for 2027"),
    PACKAGING: (-1.0, 1.5, "Tender prices locked until March 2026", "Paper prices recovering"),
    "MRO spares": (2.5, 2.5, "Distributor list prices up with wages", "Stable, tracks wages"),
    "IT hardware": (1.5, 3.0, "Memory prices rising", "Tariffs on imported devices"),
    "Software": (6.5, 7.0, "Vendors index licences and push cloud bundles",
                 "Renewal wave of ERP and CAD subscriptions"),
    "Logistics": (3.0, 2.5, "Road toll increase and driver shortage", "Fuel forward curve flat"),
    "Facilities": (4.0, 3.5, "Collective wage agreements in cleaning and security",
                   "Wage indexation clauses"),
    "Marketing": (2.0, 2.0, "Agency day rates stable", "Stable"),
    "Professional services": (4.5, 4.0, "Consultancy rate cards up", "Rate cards up again"),
    "Energy": (-3.0, 2.0, "Forward power cheaper; grid fees up in January",
               "Gas storage tight for winter 2027"),
    "Office supplies": (1.5, 1.5, "Paper pulp stable", "Stable"),
    "Lab consumables": (3.0, 3.0, "Plastics and sterilisation costs up", "Stable"),
}

# fmt: on


# ---- dates as whole days since 1970-01-01 -------------------------------------------------
def _day(d: date) -> int:
    return (d - _EPOCH).days


def _weekday(days: np.ndarray) -> np.ndarray:
    return (days + 3) % 7  # Monday 0 ... Sunday 6


def _back_to_weekday(days: np.ndarray) -> np.ndarray:
    wd = _weekday(days)
    return days - np.where(wd == 5, 1, np.where(wd == 6, 2, 0))


def _on_to_weekday(days: np.ndarray) -> np.ndarray:
    wd = _weekday(days)
    return days + np.where(wd == 5, 2, np.where(wd == 6, 1, 0))


def _nearest_weekday(days: np.ndarray) -> np.ndarray:
    wd = _weekday(days)
    return days + np.where(wd == 5, -1, np.where(wd == 6, 1, 0))


def _workdays(days: np.ndarray, offset: np.ndarray | int) -> np.ndarray:
    """`offset` working days (Monday to Friday) on from each day (back when negative),
    counted from the working day on or before it."""
    d = np.asarray(days).astype("datetime64[D]")
    return np.busday_offset(d, offset, roll="backward").astype(np.int64)


def _year(days: np.ndarray) -> np.ndarray:
    return days.astype("datetime64[D]").astype("datetime64[Y]").astype(np.int64) + 1970


def _month(days: np.ndarray) -> np.ndarray:
    """Month index: 0 = January 2023."""
    return days.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64) - 636


def _month_starts(n: int) -> np.ndarray:
    return (np.arange(n + 1) + 636).astype("datetime64[M]").astype("datetime64[D]").astype(np.int64)


AS_OF_DAY = _day(AS_OF)
LAST_WORKDAY = int(_back_to_weekday(np.array([AS_OF_DAY]))[0])


# ---- small array tools --------------------------------------------------------------------
def _pick(
    rng: np.random.Generator, option_group: np.ndarray, weight: np.ndarray, draw_group: np.ndarray
) -> np.ndarray:
    """For each draw, the index of one option of the draw's group, chosen by weight."""
    order = np.argsort(option_group, kind="stable")
    groups = option_group[order]
    cum = np.cumsum(weight[order].astype(float))
    n_groups = int(max(groups.max(), draw_group.max())) + 1
    first = np.searchsorted(groups, np.arange(n_groups), side="left")
    stop = np.searchsorted(groups, np.arange(n_groups), side="right")
    base = np.where(first > 0, cum[np.maximum(first - 1, 0)], 0.0)
    total = cum[np.maximum(stop - 1, 0)] - base
    target = base[draw_group] + rng.random(len(draw_group)) * total[draw_group]
    idx = np.searchsorted(cum, target, side="right")
    return order[np.clip(idx, first[draw_group], stop[draw_group] - 1)]


def _round_price(price: np.ndarray, decimals: np.ndarray) -> np.ndarray:
    """Prices in 1/10,000 of a unit, rounded to 2 decimals (or 4 below one unit of currency)."""
    step = 10 ** (4 - decimals)
    return (np.round(price * 10_000 / step) * step).astype(np.int64)


def _amount_cents(qty_milli: np.ndarray, price_e4: np.ndarray) -> np.ndarray:
    """round(quantity * unit_price, 2), half away from zero, in exact integer arithmetic."""
    prod = qty_milli * price_e4
    return np.sign(prod) * ((np.abs(prod) + 50_000) // 100_000)


def _segment_rank(groups: np.ndarray) -> np.ndarray:
    """1, 2, 3... within runs of equal values of a sorted array."""
    n = len(groups)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    starts = np.r_[0, np.flatnonzero(groups[1:] != groups[:-1]) + 1]
    lengths = np.diff(np.r_[starts, n])
    return np.arange(n) - np.repeat(starts, lengths) + 1


def _dates(days: np.ndarray, missing: np.ndarray | None = None) -> pl.Series:
    s = pl.Series(days.astype(np.int32)).cast(pl.Date)
    return s.scatter(np.flatnonzero(missing), None) if missing is not None else s


def _nullable(values: np.ndarray, missing: np.ndarray) -> pl.Series:
    return pl.Series(values).scatter(np.flatnonzero(missing), None)


# ---- exchange rates -----------------------------------------------------------------------
@dataclass
class Fx:
    first_day: int
    daily: np.ndarray  # [currency, day]: EUR per unit, rounded as published, weekends filled
    table: pl.DataFrame


def _fx_rates(rng: np.random.Generator) -> Fx:
    first, last = _day(FX_FROM), _day(HORIZON)
    days = np.arange(first, last + 1)
    t = np.linspace(0.0, 1.0, len(days))
    daily = np.ones((len(CURRENCIES), len(days)))
    for i, (start, end) in ((1, (0.94, 0.87)), (2, (1.13, 1.165))):
        trend = np.log(start) + (np.log(end) - np.log(start)) * t
        shocks = rng.normal(0.0, 0.0035, len(days))
        dev = np.zeros(len(days))
        for k in range(1, len(days)):  # a mean-reverting wobble around the trend
            dev[k] = 0.985 * dev[k - 1] + shocks[k]
        daily[i] = np.round(np.exp(trend + dev), 6)
    business = (_weekday(days) < 5) & (days <= AS_OF_DAY)
    for k in np.flatnonzero(~business):  # weekends (and the future) use the last rate
        daily[:, k] = daily[:, k - 1] if k > 0 else daily[:, k]
    pub = np.flatnonzero(business)
    n = len(pub)
    table = pl.DataFrame(
        {
            "date": _dates(np.tile(days[pub], len(CURRENCIES))),
            "currency": np.repeat(np.array(CURRENCIES), n),
            "rate": np.round(daily[:, pub].ravel() * 10**8).astype(np.int64),
        }
    )
    return Fx(first, daily, table)


def _to_eur(fx: Fx, cents: np.ndarray, currency: np.ndarray, days: np.ndarray) -> np.ndarray:
    col = np.clip(days - fx.first_day, 0, fx.daily.shape[1] - 1)
    return cents * fx.daily[currency, col] / 100.0


# ---- master data: items, suppliers, what each supplier sells at what price ----------------
@dataclass
class Master:
    cat_names: list[str]
    # items
    item_id: list[str]
    item_cat: np.ndarray
    item_desc: list[str]
    item_unit: list[str]
    item_price: np.ndarray  # EUR
    item_q0: np.ndarray
    item_qdec: np.ndarray
    item_pdec: np.ndarray
    item_lead: np.ndarray
    item_crit: np.ndarray
    item_spare: np.ndarray
    item_stocked: np.ndarray
    # suppliers
    sup_id: list[str]
    sup_name: list[str]
    sup_country: np.ndarray
    sup_cat: np.ndarray
    sup_cur: np.ndarray
    sup_large: np.ndarray
    sup_pref: np.ndarray
    sup_terms: np.ndarray
    sup_disc: np.ndarray  # percent, e.g. 2.0
    sup_disc_days: np.ndarray
    sup_strategic: np.ndarray
    sup_single: np.ndarray
    sup_weight: np.ndarray
    sup_late_delivery: np.ndarray
    sup_late_payment: np.ndarray
    # supplier-item pairs
    pair_sup: np.ndarray
    pair_item: np.ndarray
    pair_w: np.ndarray
    pair_main: np.ndarray
    pair_price: np.ndarray  # [pair, year]: list price in 1/10,000 of the supplier's currency
    pair_contract: np.ndarray
    # cost centres: weight of each (category, cost centre)
    cc_weight: np.ndarray
    # discontinued items: from this day, lines move to a successor pair of the same supplier
    item_stop: np.ndarray
    pair_successor: np.ndarray


def _items(rng: np.random.Generator) -> dict[str, np.ndarray | list]:
    rows: list[tuple] = []
    for c, cat in enumerate(CATEGORIES):
        combos = [(g, f"{b} {v}") for g in cat.groups for b in g.bases for v in g.variants]
        keep = np.sort(rng.permutation(len(combos))[: cat.n_items])
        for k in keep:
            g, desc = combos[k]
            rows.append((c, desc, g))
    n = len(rows)
    cat = np.array([r[0] for r in rows])
    groups = [r[2] for r in rows]
    lo = np.array([g.price[0] for g in groups])
    hi = np.array([g.price[1] for g in groups])
    where = rng.random(n)  # position in the group's price range, on a log scale
    price = np.exp(np.log(lo) + where * np.log(hi / lo))
    qlo = np.array([g.qty[0] for g in groups], dtype=float)
    qhi = np.array([g.qty[1] for g in groups], dtype=float)
    # cheap items are ordered in bulk, dear ones a few at a time
    bulk = np.clip(1 - where + rng.uniform(-0.25, 0.25, n), 0, 1)
    q0 = np.exp(np.log(qlo) + bulk * np.log(qhi / qlo))
    spare = np.array([g.critical_spares for g in groups])
    lead_lo = np.array([CATEGORIES[c].lead_days[0] for c in cat])
    lead_hi = np.array([CATEGORIES[c].lead_days[1] for c in cat])
    lead = np.where(spare, rng.integers(90, 201, n), rng.integers(lead_lo, lead_hi + 1))
    crit_p = np.array([CATEGORIES[c].criticality for c in cat])
    u = rng.random(n)
    medium_or_low = np.where(u < crit_p[:, 0] + crit_p[:, 1], "medium", "low")
    crit = np.where(spare | (u < crit_p[:, 0]), "high", medium_or_low)
    stocked = spare | (rng.random(n) < np.array([CATEGORIES[c].stocked_share for c in cat]))
    return {
        "cat": cat,
        "desc": [r[1] for r in rows],
        "unit": [g.unit for g in groups],
        "price": price,
        "q0": q0,
        "qdec": np.array([g.decimals for g in groups]),
        "pdec": np.where(price < 1.0, 4, 2),
        "lead": lead,
        "crit": crit,
        "spare": spare,
        "stocked": stocked,
    }


def _master(rng: np.random.Generator) -> Master:
    it = _items(rng)
    n_items = len(it["cat"])
    cat_names = [c.name for c in CATEGORIES]
    # suppliers: a category each, a country, a Zipf-like share of their category
    sup_cat = np.repeat(np.arange(len(CATEGORIES)), [c.n_suppliers for c in CATEGORIES])
    n_sup = len(sup_cat)
    countries = np.empty(n_sup, dtype=object)
    zipf = np.empty(n_sup)
    for c, cat in enumerate(CATEGORIES):
        idx = np.flatnonzero(sup_cat == c)
        mix = COUNTRY_MIX[cat.countries]
        p = np.array(list(mix.values()))
        countries[idx] = rng.choice(list(mix), size=len(idx), p=p / p.sum())
        zipf[idx] = 1.0 / (rng.permutation(len(idx)) + 1.0)
    # pairs: every item has a main supplier and maybe alternates in its category
    pop = rng.lognormal(0.0, 0.8, n_items) * np.where(it["spare"], 0.03, 1.0)
    p_sup, p_item, p_main = [], [], []
    for c in range(len(CATEGORIES)):
        idx = np.flatnonzero(sup_cat == c)
        items = np.flatnonzero(it["cat"] == c)
        main = rng.choice(idx, size=len(items), p=zipf[idx] / zipf[idx].sum())
        n_alt = rng.choice([0, 1, 2], size=len(items), p=[0.45, 0.4, 0.15])
        for i, m, k in zip(items, main, n_alt, strict=True):
            others = idx[idx != m]
            alts = rng.choice(others, size=min(k, len(others)), replace=False)
            p_sup += [m, *alts]
            p_item += [i] * (1 + len(alts))
            p_main += [True] + [False] * len(alts)
        used = set(p_sup)
        for s in (s for s in idx if s not in used):  # every supplier sells something
            p_sup.append(s)
            p_item.append(int(rng.choice(items)))
            p_main.append(False)
    pair_sup, pair_item = np.array(p_sup), np.array(p_item)
    pair_main = np.array(p_main)
    pair_w = pop[pair_item] * np.where(pair_main, 1.0, rng.uniform(0.1, 0.35, len(pair_sup)))
    sup_weight = np.bincount(pair_sup, weights=pair_w, minlength=n_sup)

    # size, preference, terms
    rank = np.empty(n_sup, dtype=np.int64)
    for c in range(len(CATEGORIES)):
        idx = np.flatnonzero(sup_cat == c)
        rank[idx[np.argsort(-sup_weight[idx], kind="stable")]] = np.arange(len(idx))
    n_in_cat = np.bincount(sup_cat)[sup_cat]
    top = rank < np.ceil(0.3 * n_in_cat)
    large = rng.random(n_sup) < np.where(top, 0.75, 0.12)
    pref = rng.random(n_sup) < np.where(large, 0.6, 0.3)
    fast = large & pref  # story 2: paid in ~20 days against 60-day terms
    terms = np.where(
        large,
        rng.choice([45, 60, 90, 30], size=n_sup, p=[0.3, 0.45, 0.1, 0.15]),
        rng.choice([30, 45, 60, 14], size=n_sup, p=[0.5, 0.25, 0.2, 0.05]),
    )
    terms = np.where(fast, 60, terms)
    offers = ~fast & (rng.random(n_sup) < np.where(large, 0.1, 0.3)) & (terms >= 30)
    kind = rng.choice(3, size=n_sup, p=[0.7, 0.1, 0.2])
    disc = np.where(offers, np.array([2.0, 3.0, 1.5])[kind], 0.0)
    disc_days = np.where(offers, np.array([10, 10, 14])[kind], 0)
    late_delivery = np.where(large, 0.08, 0.12)
    for c in (0, 2):  # the worst deliverers: the biggest non-fast supplier in two categories
        idx = np.flatnonzero((sup_cat == c) & ~fast)
        late_delivery[idx[np.argmax(sup_weight[idx])]] = 0.45
    late_payment = np.where(large, 0.12, 0.22)

    # single source: sole supplier of a high-criticality item
    n_sources = np.bincount(pair_item, minlength=n_items)
    sole = (n_sources[pair_item] == 1) & (it["crit"][pair_item] == "high")
    single = np.bincount(pair_sup[sole], minlength=n_sup) > 0
    strategic = (fast & (rank < 2)) | (single & large)

    # prices: list price per pair and year, in the supplier's currency
    cur = np.array([CURRENCIES.index(COUNTRY_CURRENCY.get(c, "EUR")) for c in countries])
    pc = it["cat"][pair_item]
    infl = np.array([c.inflation for c in CATEGORIES])
    factor = np.cumprod(np.c_[np.ones(len(CATEGORIES)), 1 + infl], axis=1)[pc]
    noise = np.c_[np.ones(len(pc)), rng.uniform(0.985, 1.015, (len(pc), 3))]
    premium = np.where(pair_main, 1.0, rng.uniform(0.97, 1.10, len(pc)))
    ref = np.array(REFERENCE_RATE)[cur[pair_sup]]
    base = it["price"][pair_item] * premium / ref
    pair_price = _round_price(base[:, None] * factor * noise, it["pdec"][pair_item][:, None])
    item_level = np.isin(
        pc,
        [
            cat_names.index(n)
            for n in (
                "Raw materials",
                PACKAGING,
                "MRO spares",
                "IT hardware",
                "Software",
                "Energy",
                "Office supplies",
                "Lab consumables",
            )
        ],
    )
    pair_contract = pair_main & item_level & (rng.random(len(pc)) < 0.7)

    cc_codes = [c for c, _ in COST_CENTRES]
    cc_weight = np.zeros((len(CATEGORIES), len(COST_CENTRES)))
    for c, name in enumerate(cat_names):
        for code, w in CC_AFFINITY[name].items():
            cc_weight[c, cc_codes.index(code)] = w

    item_stop, successor = _discontinued(rng, it, pair_sup, pair_item, pair_main)
    names = _supplier_names(rng, countries, sup_cat, large)
    return Master(
        cat_names=cat_names,
        item_id=[f"IT-{i + 10001}" for i in range(n_items)],
        item_cat=it["cat"],
        item_desc=it["desc"],
        item_unit=it["unit"],
        item_price=it["price"],
        item_q0=it["q0"],
        item_qdec=it["qdec"],
        item_pdec=it["pdec"],
        item_lead=it["lead"],
        item_crit=it["crit"],
        item_spare=it["spare"],
        item_stocked=it["stocked"],
        sup_id=[f"S{i + 1:04d}" for i in range(n_sup)],
        sup_name=names,
        sup_country=countries.astype(str),
        sup_cat=sup_cat,
        sup_cur=cur,
        sup_large=large,
        sup_pref=pref,
        sup_terms=terms,
        sup_disc=disc,
        sup_disc_days=disc_days,
        sup_strategic=strategic,
        sup_single=single,
        sup_weight=sup_weight,
        sup_late_delivery=late_delivery,
        sup_late_payment=late_payment,
        pair_sup=pair_sup,
        pair_item=pair_item,
        pair_w=pair_w,
        pair_main=pair_main,
        pair_price=pair_price,
        pair_contract=pair_contract,
        cc_weight=cc_weight,
        item_stop=item_stop,
        pair_successor=successor,
    )


def _discontinued(
    rng: np.random.Generator,
    it: dict,
    pair_sup: np.ndarray,
    pair_item: np.ndarray,
    pair_main: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """A dozen stocked items phased out in 2024-2025 (their stock turns obsolete); from then
    on, orders go to the supplier's most similar item (price and order size)."""
    stop = np.full(len(it["cat"]), 10**6, dtype=np.int64)
    successor = np.arange(len(pair_sup))
    candidates = np.flatnonzero(it["stocked"] & ~it["spare"])
    chosen = rng.choice(candidates, size=min(12, len(candidates)), replace=False)
    days = rng.integers(_day(date(2024, 3, 1)), _day(date(2025, 9, 30)), len(chosen))
    shape = np.c_[np.log(it["price"]), np.log(it["q0"])]
    for i, d in zip(chosen, days, strict=True):
        pairs = np.flatnonzero(pair_item == i)
        plans = []
        for p in pairs:
            same = np.flatnonzero(
                (pair_sup == pair_sup[p]) & pair_main & ~np.isin(pair_item, chosen)
            )
            if len(same) == 0:
                break
            gap = np.abs(shape[pair_item[same]] - shape[i]).sum(axis=1)
            plans.append(same[np.argmin(gap)])
        else:
            successor[pairs] = plans
            stop[i] = d
    return stop, successor


def _supplier_names(
    rng: np.random.Generator, countries: np.ndarray, sup_cat: np.ndarray, large: np.ndarray
) -> list[str]:
    names: list[str] = []
    seen: set[str] = set()
    for country, c, big in zip(countries, sup_cat, large, strict=True):
        surnames = SURNAMES[country].split("|")
        stems = CATEGORIES[c].stems
        forms = LEGAL_FORMS[country]
        form = forms[1] if big else forms[int(rng.integers(0, 2)) * 2]
        for k in rng.permutation(len(surnames) * len(stems)):
            name = f"{surnames[k % len(surnames)]} {stems[k // len(surnames)]} {form}"
            if name not in seen:
                break
        else:
            name = f"{name} {len(seen)}"
        seen.add(name)
        names.append(name)
    return names


# ---- savings initiatives (planned before the lines: they set the prices paid) -------------
@dataclass
class Plan:
    pair: np.ndarray
    kind: np.ndarray
    start: np.ndarray
    end: np.ndarray  # -1 = open-ended
    baseline: np.ndarray
    quoted: np.ndarray
    negotiated: np.ndarray
    stage: np.ndarray
    status: np.ndarray
    note: list[str | None]
    title: list[str]
    owner: list[str]
    # per pair, for pricing the lines
    price_from: np.ndarray  # day the negotiated price applies from (huge = never)
    price_new: np.ndarray
    price_old: np.ndarray
    less_from: np.ndarray  # day a demand reduction starts (huge = never)


_NOTES = {
    ("price_reduction", "accepted"): "Lower price verified on invoices against the prior contract.",
    ("price_reduction", "rejected"): "Baseline is a one-off spot price, not what we paid.",
    ("cost_avoidance", "accepted"): "The increase was in the budget: accepted as budget relief.",
    ("cost_avoidance", "rejected"): "The increase never reached the budget: avoidance, not a "
    "saving.",
    ("demand_reduction", "accepted"): "Lower consumption visible in the cost centre's actuals.",
    ("value_add", "rejected"): "No effect on the P&L; track it as supplier performance.",
}
_STATUS_ODDS = {  # accepted, pending, rejected
    "price_reduction": (0.7, 0.2, 0.1),
    "cost_avoidance": (0.2, 0.45, 0.35),
    "demand_reduction": (0.5, 0.5, 0.0),
    "value_add": (0.0, 0.6, 0.4),
}
_VALUE_ADD = (
    "Consignment stock at our site",
    "Free extended warranty",
    "Supplier-managed inventory",
    "Free technical training",
)


def _initiatives(rng: np.random.Generator, m: Master) -> Plan:
    cat_of_pair = m.item_cat[m.pair_item]
    cat = {n: i for i, n in enumerate(m.cat_names)}
    usable = m.pair_main & (m.item_stop[m.pair_item] > 10**5) & ~m.item_spare[m.pair_item]
    taken = np.zeros(len(m.pair_sup), dtype=bool)

    def choose(cats: list[str], n: int, by_weight: bool = True) -> np.ndarray:
        ok = np.flatnonzero(usable & ~taken & np.isin(cat_of_pair, [cat[c] for c in cats]))
        w = m.pair_w[ok] / m.pair_w[ok].sum() if by_weight else None
        out = rng.choice(ok, size=min(n, len(ok)), replace=False, p=w)
        taken[out] = True
        return out

    # story 1: the packaging tender covers the biggest packaging items from 2025-04-01
    pk = np.flatnonzero(usable & (cat_of_pair == cat[PACKAGING]))
    tender = pk[np.argsort(-m.pair_w[pk], kind="stable")][:30]
    taken[tender] = True
    pr = choose(
        [
            "Raw materials",
            "MRO spares",
            "IT hardware",
            "Software",
            "Logistics",
            "Lab consumables",
            "Office supplies",
            "Facilities",
        ],
        50,
    )
    ca = choose(
        [
            "Raw materials",
            "Energy",
            "Logistics",
            "Software",
            "IT hardware",
            "Lab consumables",
            "Professional services",
        ],
        25,
    )
    dr = choose(["Office supplies", "Lab consumables", "Energy", "Facilities"], 10, False)
    va = choose(["MRO spares", "IT hardware", "Logistics", "Facilities"], 10, False)
    pair = np.r_[tender, pr, ca, dr, va]
    kind = np.array(
        ["price_reduction"] * (len(tender) + len(pr))
        + ["cost_avoidance"] * len(ca)
        + ["demand_reduction"] * len(dr)
        + ["value_add"] * len(va)
    )
    n = len(pair)
    months = _month_starts(52)  # month starts 2023-01 .. 2027-04
    start = months[rng.integers(3, 51, n)]
    start[: len(tender)] = _day(PACKAGING_TENDER_START)
    end = np.where(kind == "value_add", -1, _one_year_on(start))

    year_before = np.clip(_year(start - 1) - 2023, 0, 3)
    baseline = m.pair_price[pair, year_before]
    pdec = m.item_pdec[m.pair_item[pair]]
    cut = np.where(
        np.arange(n) < len(tender), rng.uniform(0.065, 0.10, n), rng.uniform(0.03, 0.12, n)
    )
    rise = rng.uniform(0.06, 0.15, n)
    negotiated = np.select(
        [kind == "price_reduction", kind == "cost_avoidance"],
        [
            _round_price(baseline * (1 - cut) / 10_000, pdec),
            _round_price(baseline * (1 + rng.uniform(0.0, 0.04, n)) / 10_000, pdec),
        ],
        baseline,
    )
    quoted = np.select(
        [kind == "price_reduction", kind == "cost_avoidance"],
        [
            _round_price(baseline * (1 - cut * rng.uniform(0.2, 0.6, n)) / 10_000, pdec),
            _round_price(baseline * (1 + rise) / 10_000, pdec),
        ],
        baseline,
    )
    started = start <= AS_OF_DAY
    stage = np.where(
        started,
        np.where(start <= AS_OF_DAY - 365, "realised", "implemented"),
        np.where(
            start <= AS_OF_DAY + 60,
            "contracted",
            np.where(rng.random(n) < 0.5, "negotiating", "identified"),
        ),
    )
    u = rng.random(n)
    odds = np.array([_STATUS_ODDS[k] for k in kind])
    status = np.where(
        u < odds[:, 0], "accepted", np.where(u < odds[:, 0] + odds[:, 1], "pending", "rejected")
    )
    status = np.where(started, status, "pending")
    note = [_NOTES.get((k, s)) for k, s in zip(kind, status, strict=True)]
    titles = []
    va_kind = rng.integers(0, len(_VALUE_ADD), n)
    for j in range(n):
        desc = m.item_desc[m.pair_item[pair[j]]]
        supplier = m.sup_name[m.pair_sup[pair[j]]].split(" ")[0]
        titles.append(
            {
                "price_reduction": f"Renegotiate {desc} with {supplier}"
                if j >= len(tender)
                else f"Packaging tender 2025: {desc}",
                "cost_avoidance": f"Resist announced increase on {desc} ({supplier})",
                "demand_reduction": f"Use less {desc}",
                "value_add": f"{_VALUE_ADD[va_kind[j]]}: {desc} ({supplier})",
            }[kind[j]]
        )
    owners = []
    for j in range(n):
        buyers = BUYERS[m.cat_names[cat_of_pair[pair[j]]]]
        owners.append(f"{buyers[int(rng.integers(0, len(buyers)))]}@example.org")

    never = 10**6
    n_pairs = len(m.pair_sup)
    price_from = np.full(n_pairs, never, dtype=np.int64)
    price_new = np.zeros(n_pairs, dtype=np.int64)
    price_old = np.zeros(n_pairs, dtype=np.int64)
    moves = started & np.isin(kind, ["price_reduction", "cost_avoidance"])
    price_from[pair[moves]] = start[moves]
    price_new[pair[moves]] = negotiated[moves]
    price_old[pair[moves]] = baseline[moves]
    less_from = np.full(n_pairs, never, dtype=np.int64)
    less = started & (kind == "demand_reduction")
    less_from[pair[less]] = start[less]
    return Plan(
        pair=pair,
        kind=kind,
        start=start,
        end=end,
        baseline=baseline,
        quoted=quoted,
        negotiated=negotiated,
        stage=stage,
        status=status,
        note=note,
        title=titles,
        owner=owners,
        price_from=price_from,
        price_new=price_new,
        price_old=price_old,
        less_from=less_from,
    )


def _one_year_on(days: np.ndarray) -> np.ndarray:
    """The day before the same date a year later (a 12-month window)."""
    d = days.astype("datetime64[D]")
    nxt = (d.astype("datetime64[M]") + 12).astype("datetime64[D]") + (
        d - d.astype("datetime64[M]").astype("datetime64[D]")
    )
    return nxt.astype(np.int64) - 1


# ---- documents and lines: who bought what, when, from whom, at what price ----------------
@dataclass
class Lines:
    # documents (one PO and its invoice, or an invoice with no PO)
    doc_day: np.ndarray  # invoice date (virtual past AS_OF)
    doc_cat: np.ndarray
    doc_cc: np.ndarray
    doc_sup: np.ndarray
    doc_mav: np.ndarray
    doc_surge: np.ndarray
    doc_n: np.ndarray
    # lines
    doc: np.ndarray
    line_no: np.ndarray
    pair: np.ndarray
    qty: np.ndarray  # 1/1000 units
    price: np.ndarray  # 1/10,000 of the currency
    cents: np.ndarray
    scale: float


def _seasonality(cat_name: str) -> np.ndarray:
    moy = np.arange(12)
    if cat_name == "Energy":
        return 1 + 0.3 * np.cos(2 * np.pi * moy / 12)
    return np.array([0.95, 1.0, 1.05, 1.0, 1.02, 1.0, 0.95, 0.78, 1.02, 1.05, 1.02, 0.86])


def _growth(cat_name: str) -> np.ndarray:
    if cat_name == PACKAGING:  # story 1: volume +25 % in FY2025
        return np.array([1.0, 1.03, 1.03 * 1.25, 1.03 * 1.25 * 1.07])
    return 1.03 ** np.arange(4)


def _line_rates() -> np.ndarray:
    """Expected invoice lines per (category, month), up to a constant."""
    month = np.arange(N_MONTHS)
    return np.array(
        [
            c.line_share * _growth(c.name)[month // 12] * _seasonality(c.name)[month % 12]
            for c in CATEGORIES
        ]
    )


def _expected_lines(scale: float) -> np.ndarray:
    """Expected lines per (category, month) at this scale: LINES_AT_SCALE_1 * scale of them
    are invoiced by AS_OF (the rest are orders still open in November and December)."""
    rate = _line_rates()
    invoiced_months = _month(np.array([AS_OF_DAY]))[0] + 1
    return LINES_AT_SCALE_1 * scale * rate / rate[:, :invoiced_months].sum()


def _documents(rng: np.random.Generator, scale: float, m: Master) -> dict[str, np.ndarray]:
    # whole lines per (category, month): the expectation, rounded up or down at random, so
    # each category's volume follows its plan closely even at a small scale
    expected = _expected_lines(scale).ravel()
    per_cell = np.floor(expected).astype(np.int64)
    per_cell += rng.random(expected.size) < expected - per_cell
    cell = np.repeat(np.arange(expected.size), per_cell)
    p = np.array([c.lines_p for c in CATEGORIES])[cell // N_MONTHS]
    # a line opens a new document with probability p: about 1/p lines per document
    opens = np.r_[True, cell[1:] != cell[:-1]] | (rng.random(len(cell)) < p)
    first = np.flatnonzero(opens)
    n_lines = np.diff(np.r_[first, len(cell)])
    n_docs = len(first)
    cat, month = cell[first] // N_MONTHS, cell[first] % N_MONTHS
    options = np.argwhere(m.cc_weight > 0)
    cc = options[_pick(rng, options[:, 0], m.cc_weight[options[:, 0], options[:, 1]], cat), 1]
    mav = rng.random(n_docs) < np.array([c.maverick_share for c in CATEGORIES])[cat]

    # story 4: CC-3030 books ever more events and agencies without a PO through FY2026
    cc3030 = [c for c, _ in COST_CENTRES].index(MAVERICK_COST_CENTRE)
    n25 = int(np.sum(mav & (cc == cc3030) & (month // 12 == 2)))
    n_surge = max(12, round(1.8 * n25))
    ramp = np.arange(1, 13, dtype=float)
    s_month = 36 + rng.choice(12, size=n_surge, p=ramp / ramp.sum())
    s_cat = np.where(
        rng.random(n_surge) < 0.7,
        m.cat_names.index("Marketing"),
        m.cat_names.index("Professional services"),
    )
    cat = np.r_[cat, s_cat]
    month = np.r_[month, s_month]
    cc = np.r_[cc, np.full(n_surge, cc3030)]
    mav = np.r_[mav, np.ones(n_surge, dtype=bool)]
    surge = np.r_[np.zeros(n_docs, dtype=bool), np.ones(n_surge, dtype=bool)]

    starts = _month_starts(N_MONTHS)
    length = np.diff(starts)
    day = _nearest_weekday(starts[month] + (rng.random(len(month)) * length[month]).astype(int))
    # suppliers: invoices with no PO go more often to suppliers nobody prefers
    bias = np.where(m.sup_pref, 0.6, 1.8)
    sup = np.where(
        mav,
        _pick(rng, m.sup_cat, m.sup_weight * bias, cat),
        _pick(rng, m.sup_cat, m.sup_weight, cat),
    )
    n_lines = np.r_[n_lines, np.minimum(rng.geometric(0.7, n_surge), 4)]
    return {
        "day": day,
        "cat": cat,
        "cc": cc,
        "sup": sup,
        "mav": mav,
        "surge": surge,
        "n": n_lines,
    }


def _lines(rng: np.random.Generator, scale: float, m: Master, plan: Plan) -> Lines:
    d = _documents(rng, scale, m)
    n_lines = d["n"]
    doc = np.repeat(np.arange(len(n_lines)), n_lines)
    line_no = _segment_rank(doc)
    day = d["day"][doc]
    pair = _pick(rng, m.pair_sup, m.pair_w, d["sup"][doc])
    gone = day >= m.item_stop[m.pair_item[pair]]
    pair = np.where(gone, m.pair_successor[pair], pair)
    item = m.pair_item[pair]

    q0 = m.item_q0[item]
    q = q0 * rng.lognormal(0.0, QTY_SIGMA, len(doc))
    q = np.where(day >= plan.less_from[pair], q * 0.75, q)
    step = np.where(
        m.item_qdec[item] > 0, 0.001, np.where(q0 >= 100, 10 ** (np.floor(np.log10(q0)) - 1), 1)
    )
    qty = np.round(np.maximum(step, np.round(q / step) * step) * 1000).astype(np.int64)

    year = np.clip(_year(day) - 2023, 0, 3)
    listed = m.pair_price[pair, year]
    pdec = m.item_pdec[item]
    moved = day >= plan.price_from[pair]
    u = rng.random(len(doc))
    leak = (u < 0.04) & (plan.price_old[pair] > plan.price_new[pair])  # old price paid again
    price = np.where(moved, np.where(leak, plan.price_old[pair], plan.price_new[pair]), listed)
    off_contract = ~moved & m.pair_contract[pair] & (u < 0.02)
    mav = d["mav"][doc]
    markup = np.where(mav, rng.uniform(1.03, 1.15, len(doc)), rng.uniform(1.03, 1.08, len(doc)))
    spot = _round_price(listed * markup / 10_000, pdec)
    price = np.where(mav | off_contract, spot, price)
    return Lines(
        doc_day=d["day"],
        doc_cat=d["cat"],
        doc_cc=d["cc"],
        doc_sup=d["sup"],
        doc_mav=d["mav"],
        doc_surge=d["surge"],
        doc_n=n_lines,
        doc=doc,
        line_no=line_no,
        pair=pair,
        qty=qty,
        price=price,
        cents=_amount_cents(qty, price),
        scale=scale,
    )


# ---- purchase orders, receipts, invoices, payments ---------------------------------------
@dataclass
class Flow:
    purchase_orders: pl.DataFrame
    goods_receipts: pl.DataFrame
    invoices: pl.DataFrame


def _numbers(
    prefix: str, days: np.ndarray, tiebreak: np.ndarray, width: int = 6
) -> tuple[pl.Series, np.ndarray]:
    """Document numbers like PO-2025-000123, counting up through each year by date (in that
    order), and each document's position in it."""
    order = np.lexsort((tiebreak, days))
    year = _year(days[order])
    seq = _segment_rank(year)
    width = max(width, len(str(int(seq.max()) if len(seq) else 0)))
    numbered = (
        pl.DataFrame({"y": year, "s": seq})
        .select(pl.format(prefix + "-{}-{}", "y", pl.col("s").cast(pl.String).str.zfill(width)))
        .to_series()
    )
    rank = np.empty(len(days), dtype=np.int64)
    rank[order] = np.arange(len(days))
    return numbered, rank


@dataclass
class DocDates:
    invoice: np.ndarray
    last_receipt: np.ndarray
    promised: np.ndarray
    ordered: np.ndarray
    approved: np.ndarray


def _po_dates(rng: np.random.Generator, m: Master, ln: Lines) -> DocDates:
    """Each document's PO dates, worked back from its invoice: delivered a few days before
    it, promised on or before delivery (well before, when late), ordered a lead time earlier
    and approved a few days after the order."""
    n = len(ln.doc_day)
    inv = ln.doc_day
    first_line = np.cumsum(ln.doc_n) - ln.doc_n
    lead = m.item_lead[m.pair_item[ln.pair[first_line]]]
    last_rcpt = _workdays(inv, -rng.integers(0, 6, n))
    late = rng.random(n) < m.sup_late_delivery[ln.doc_sup]
    delay = np.where(late, np.minimum(rng.geometric(1 / 6, n), 40), -rng.integers(0, 3, n))
    promised = _workdays(last_rcpt, -delay)  # in working days
    lead_now = np.maximum(1, np.round(lead * rng.uniform(0.8, 1.2, n) * 5 / 7)).astype(np.int64)
    po_day = np.minimum(_workdays(promised, -lead_now), _workdays(last_rcpt, -1))
    po_day = np.maximum(po_day, _day(date(2023, 1, 2)))  # the first orders of the data set
    approved = _workdays(po_day, rng.choice([0, 1, 1, 1, 2, 2, 3, 4, 6], n))
    approved = np.maximum(np.minimum(approved, last_rcpt), po_day)
    promised = np.maximum(promised, approved)
    last_rcpt = np.maximum(last_rcpt, approved)
    inv = np.where(ln.doc_mav, inv, np.maximum(inv, last_rcpt))
    return DocDates(inv, last_rcpt, promised, po_day, approved)


@dataclass
class Receipts:
    line: np.ndarray  # index into the PO lines
    day: np.ndarray
    qty: np.ndarray
    received: np.ndarray  # per PO line, by AS_OF


def _receipts(
    rng: np.random.Generator, m: Master, ln: Lines, dd: DocDates, lines: np.ndarray
) -> Receipts:
    """Deliveries of the PO lines received by AS_OF: one, or a part first and the rest later.
    A line promised by AS_OF has arrived by then, however late."""
    n = len(lines)
    doc = ln.doc[lines]
    qty = ln.qty[lines]
    approved, promised = dd.approved[doc], dd.promised[doc]
    last = np.maximum(
        _workdays(dd.last_receipt[doc], np.where(rng.random(n) < 0.2, -rng.integers(1, 3, n), 0)),
        approved,
    )
    first_qty = np.where(
        m.item_qdec[m.pair_item[ln.pair[lines]]] > 0,
        (qty * rng.uniform(0.3, 0.7, n)).astype(np.int64),
        (qty // 1000 * rng.uniform(0.3, 0.7, n)).astype(np.int64) * 1000,
    )
    first = _workdays(last, -rng.integers(2, 11, n))
    split = (rng.random(n) < 0.12) & (first_qty > 0) & (first_qty < qty) & (first > approved)
    has_first = split & (first <= AS_OF_DAY)
    has_last = last <= AS_OF_DAY
    overdue = ~has_first & ~has_last & (promised <= AS_OF_DAY)
    arrived = promised + (rng.random(n) * (AS_OF_DAY - promised + 1)).astype(np.int64)
    arrived = np.maximum(np.minimum(_back_to_weekday(arrived), LAST_WORKDAY), approved)
    last = np.where(overdue, arrived, last)
    last_qty = np.where(split & ~overdue, qty - first_qty, qty)
    has_last |= overdue
    line = np.r_[np.flatnonzero(has_first), np.flatnonzero(has_last)]
    day = np.r_[first[has_first], last[has_last]]
    rqty = np.r_[first_qty[has_first], last_qty[has_last]]
    order = np.lexsort((day, line))
    received = np.bincount(line, weights=rqty, minlength=n)
    return Receipts(line[order], day[order], rqty[order], received)


def _flow(rng: np.random.Generator, m: Master, ln: Lines, contracts: pl.DataFrame) -> Flow:
    dd = _po_dates(rng, m, ln)
    po = ~ln.doc_mav
    keep_po = po & (dd.ordered <= AS_OF_DAY)
    invoiced = dd.invoice <= AS_OF_DAY
    kept = np.flatnonzero(np.where(po, keep_po, invoiced)[ln.doc])

    # POs numbered by order date; their lines in number order
    po_docs = np.flatnonzero(keep_po)
    po_numbers, rank = _numbers("PO", dd.ordered[po_docs], po_docs)
    po_seq = np.full(len(po), -1)
    po_seq[po_docs] = rank
    lines = kept[po[ln.doc[kept]]]
    lines = lines[np.lexsort((ln.line_no[lines], po_seq[ln.doc[lines]]))]
    doc = ln.doc[lines]
    rec = _receipts(rng, m, ln, dd, lines)
    status = np.select(  # index into PO_STATUSES
        [invoiced[doc], rec.received >= ln.qty[lines], rec.received > 0], [0, 1, 2], 3
    )
    po_id = po_numbers.gather(po_seq[doc])
    pair = ln.pair[lines]
    item = m.pair_item[pair]
    sup = ln.doc_sup[doc]
    purchase_orders = pl.DataFrame(
        {
            "po_id": po_id,
            "po_line": ln.line_no[lines],
            "po_date": _dates(dd.ordered[doc]),
            "approved_date": _dates(dd.approved[doc], dd.approved[doc] > AS_OF_DAY),
            "supplier_id": pl.Series(m.sup_id).gather(sup),
            "item_id": pl.Series(m.item_id).gather(item),
            "category": pl.Series(m.cat_names).gather(m.item_cat[item]),
            "cost_centre": pl.Series([c for c, _ in COST_CENTRES]).gather(ln.doc_cc[doc]),
            "quantity": ln.qty[lines],
            "unit_price": ln.price[lines],
            "amount": ln.cents[lines],
            "currency": pl.Series(CURRENCIES).gather(m.sup_cur[sup]),
            "contract_id": _contract_lookup(m, contracts, pair, dd.invoice[doc]),
            "promised_date": _dates(dd.promised[doc]),
            "status": pl.Series(PO_STATUSES).gather(status),
        }
    )
    goods_receipts = pl.DataFrame(
        {
            "po_id": po_id.gather(rec.line),
            "po_line": ln.line_no[lines][rec.line],
            "receipt_date": _dates(rec.day),
            "quantity": rec.qty,
        }
    )
    billed = kept[invoiced[ln.doc[kept]]]
    invoices = _invoices(rng, m, ln, dd.invoice, billed, po_numbers, po_seq)
    return Flow(purchase_orders, goods_receipts, invoices)


def _invoices(
    rng: np.random.Generator,
    m: Master,
    ln: Lines,
    inv_day: np.ndarray,
    lines: np.ndarray,
    po_numbers: pl.Series,
    po_seq: np.ndarray,
) -> pl.DataFrame:
    """Invoice lines in invoice-number order, with due date, payment and discount taken."""
    docs = np.unique(ln.doc[lines])
    numbers, rank = _numbers("INV", inv_day[docs], docs)
    pos = np.searchsorted(docs, ln.doc[lines])
    order = np.lexsort((ln.line_no[lines], rank[pos]))
    lines, pos = lines[order], pos[order]
    inv = inv_day[docs]
    sup = ln.doc_sup[docs]
    due = inv + m.sup_terms[sup]
    paid = _paid_days(rng, m, sup, inv, ln.doc_mav[docs])
    unpaid = paid > AS_OF_DAY
    captured = (m.sup_disc[sup] > 0) & ~unpaid & (paid - inv <= m.sup_disc_days[sup])
    cents = ln.cents[lines]
    disc_e4 = np.round(m.sup_disc[sup] * 10_000).astype(np.int64)[pos]
    taken = np.where(captured[pos], (cents * disc_e4 + 500_000) // 1_000_000, 0)
    item = m.pair_item[ln.pair[lines]]
    lsup = sup[pos]
    seq = po_seq[ln.doc[lines]]
    return pl.DataFrame(
        {
            "invoice_id": numbers.gather(rank[pos]),
            "invoice_line": ln.line_no[lines],
            "supplier_id": pl.Series(m.sup_id).gather(lsup),
            "po_id": po_numbers.gather(np.maximum(seq, 0)).scatter(np.flatnonzero(seq < 0), None),
            "invoice_date": _dates(inv[pos]),
            "due_date": _dates(due[pos]),
            "paid_date": _dates(paid[pos], unpaid[pos]),
            "item_id": pl.Series(m.item_id).gather(item),
            "category": pl.Series(m.cat_names).gather(m.item_cat[item]),
            "cost_centre": pl.Series([c for c, _ in COST_CENTRES]).gather(ln.doc_cc[ln.doc[lines]]),
            "quantity": ln.qty[lines],
            "unit_price": ln.price[lines],
            "amount": cents,
            "currency": pl.Series(CURRENCIES).gather(m.sup_cur[lsup]),
            "discount_taken": taken,
        }
    )


def _paid_days(
    rng: np.random.Generator, m: Master, sup: np.ndarray, inv: np.ndarray, no_po: np.ndarray
) -> np.ndarray:
    """When each invoice was paid (after AS_OF = still open). Large preferred suppliers are
    paid in ~20 days whatever their terms (story 2); discounts are taken about half the time
    they are offered; a share of invoices is paid late, more so without a PO."""
    k = len(inv)
    terms = m.sup_terms[sup]
    fast = m.sup_large[sup] & m.sup_pref[sup]
    disc_days = m.sup_disc_days[sup]
    takes_discount = (m.sup_disc[sup] > 0) & (rng.random(k) < 0.55)
    late = rng.random(k) < np.where(no_po, 0.4, m.sup_late_payment[sup])
    days = np.select(
        [fast, takes_discount, late],
        [
            np.clip(np.round(rng.normal(20, 3, k)), 12, 30).astype(np.int64),
            rng.integers(3, np.maximum(disc_days, 4) + 1),
            terms + 1 + np.minimum(rng.geometric(1 / 14, k), 90),
        ],
        terms + rng.integers(-5, 1, k),
    )
    paid = np.where(
        late & ~fast & ~takes_discount, _on_to_weekday(inv + days), _back_to_weekday(inv + days)
    )
    paid = np.maximum(paid, inv)
    # open at AS_OF: invoices not yet due or due in the last two weeks; older overdue ones
    # were caught up by the last payment runs
    due = inv + terms
    catch_up = (paid > AS_OF_DAY) & (due < AS_OF_DAY - 14) & (inv < AS_OF_DAY - 42)
    last_runs = _back_to_weekday(LAST_WORKDAY - rng.integers(0, 6, k))
    return np.where(catch_up, np.maximum(due + 1, last_runs), paid)


# ---- contracts ----------------------------------------------------------------------------
def _contract_rows(m: Master, plan: Plan) -> pl.DataFrame:
    """Yearly item contracts at the list price, replaced by a new one when a negotiation
    lands; and framework agreements (no item, no price) for service categories."""
    pairs = np.flatnonzero(m.pair_contract | (plan.price_from < 10**6))
    rows_pair, rows_start, rows_end, rows_price = [], [], [], []
    year_starts = [_day(date(y, 1, 1)) for y in YEARS]
    for y, ys in enumerate(year_starts):
        ye = _day(date(YEARS[y], 12, 31))
        moved = plan.price_from[pairs]
        active = moved > ys  # the yearly contract runs until the negotiated price applies
        sel = pairs[active]
        rows_pair.append(sel)
        rows_start.append(np.full(len(sel), ys))
        rows_end.append(np.minimum(ye, moved[active] - 1))
        rows_price.append(m.pair_price[sel, y])
    moved = pairs[plan.price_from[pairs] < 10**6]
    rows_pair.append(moved)
    rows_start.append(plan.price_from[moved])
    rows_end.append(np.full(len(moved), _day(date(2027, 12, 31))))
    rows_price.append(plan.price_new[moved])
    p = np.concatenate(rows_pair)
    item_level = pl.DataFrame(
        {
            "pair": p,
            "sup": m.pair_sup[p],
            "item": m.pair_item[p],
            "start": np.concatenate(rows_start),
            "end": np.concatenate(rows_end),
            "price": np.concatenate(rows_price),
        }
    ).filter(pl.col("end") >= pl.col("start"))
    # framework agreements: the two biggest suppliers of each service category
    frames = []
    for name in ("Logistics", "Facilities", "Marketing", "Professional services", "Energy"):
        c = m.cat_names.index(name)
        idx = np.flatnonzero(m.sup_cat == c)
        top = idx[np.argsort(-m.sup_weight[idx], kind="stable")][:2]
        frames.append(
            pl.DataFrame(
                {
                    "pair": np.full(len(top), -1),
                    "sup": top,
                    "item": np.full(len(top), -1),
                    "start": np.full(len(top), _day(date(2023, 1, 1))),
                    "end": np.full(len(top), _day(date(2026, 12, 31))),
                    "price": np.full(len(top), -1),
                }
            )
        )
    rows = pl.concat([item_level, *frames], how="vertical_relaxed").sort("sup", "item", "start")
    return rows.with_columns(
        contract_id=pl.format("CT-{}", (pl.int_range(pl.len()) + 1).cast(pl.String).str.zfill(5))
    )


def _contract_lookup(
    m: Master, rows: pl.DataFrame, pair: np.ndarray, days: np.ndarray
) -> pl.Series:
    """The contract in force for each line: its item contract, else its framework agreement."""
    ids = rows["contract_id"]
    c_pair = rows["pair"].to_numpy()
    item_rows = np.flatnonzero(c_pair >= 0)
    key = c_pair[item_rows] * 2**20 + rows["start"].to_numpy()[item_rows]
    order = np.argsort(key, kind="stable")
    key, item_rows = key[order], item_rows[order]
    pos = np.searchsorted(key, pair * 2**20 + days, side="right") - 1
    hit = item_rows[np.maximum(pos, 0)]
    found = (pos >= 0) & (c_pair[hit] == pair) & (days <= rows["end"].to_numpy()[hit])
    framework = np.full(len(m.sup_id), -1)
    frame_rows = np.flatnonzero(c_pair < 0)
    framework[rows["sup"].to_numpy()[frame_rows]] = frame_rows
    frame = framework[m.pair_sup[pair]]
    row = np.where(found, hit, frame)
    return ids.gather(np.maximum(row, 0)).scatter(np.flatnonzero(row < 0), None)


def _contracts_table(m: Master, rows: pl.DataFrame) -> pl.DataFrame:
    sup = rows["sup"].to_numpy()
    item = rows["item"].to_numpy()
    is_item = item >= 0
    cat = np.where(is_item, m.item_cat[np.maximum(item, 0)], m.sup_cat[sup])
    return pl.DataFrame(
        {
            "contract_id": rows["contract_id"],
            "supplier_id": pl.Series(m.sup_id).gather(sup),
            "category": pl.Series(m.cat_names).gather(cat),
            "item_id": _nullable(np.array(m.item_id)[np.maximum(item, 0)], ~is_item),
            "start_date": _dates(rows["start"].to_numpy()),
            "end_date": _dates(rows["end"].to_numpy()),
            "unit_price": _nullable(rows["price"].to_numpy(), ~is_item),
            "currency": pl.Series(CURRENCIES).gather(m.sup_cur[sup]),
        }
    )


# ---- budgets ------------------------------------------------------------------------------
def _budgets(rng: np.random.Generator, m: Master, ln: Lines, fx: Fx) -> pl.DataFrame:
    """Monthly budgets per cost centre and category: the planned run-rate of each year's
    regular buying (the FY2026 surge of invoices with no PO at CC-3030 was never planned)."""
    planned = ~ln.doc_surge[ln.doc]
    doc = ln.doc[planned]
    eur = _to_eur(fx, ln.cents[planned], m.sup_cur[ln.doc_sup[doc]], ln.doc_day[doc])
    n_cat, n_cc = len(CATEGORIES), len(COST_CENTRES)
    key = (ln.doc_cc[doc] * n_cat + ln.doc_cat[doc]) * 4 + (_year(ln.doc_day[doc]) - 2023)
    total = np.bincount(key, weights=eur, minlength=n_cc * n_cat * 4)
    cell = np.flatnonzero(total > 0)
    cc, cat, year = cell // (n_cat * 4), (cell // 4) % n_cat, cell % 4
    yearly = total[cell] * rng.uniform(0.97, 1.09, len(cell))
    season = np.array([_seasonality(c.name) for c in CATEGORIES])
    season /= season.sum(axis=1, keepdims=True)
    monthly = yearly[:, None] * season[cat]
    cents = (np.round(monthly / 100.0) * 10_000).astype(np.int64).ravel()
    periods = pl.Series([f"{y}-{mo:02d}" for y in YEARS for mo in range(1, 13)])
    return pl.DataFrame(
        {
            "period": periods.gather(np.repeat(year * 12, 12) + np.tile(np.arange(12), len(cell))),
            "cost_centre": pl.Series([c for c, _ in COST_CENTRES]).gather(np.repeat(cc, 12)),
            "category": pl.Series(m.cat_names).gather(np.repeat(cat, 12)),
            "amount": cents,
            "currency": np.full(len(cents), "EUR"),
        }
    )


# ---- inventory ----------------------------------------------------------------------------
def _usage_per_day(m: Master, ln: Lines) -> np.ndarray:
    """Expected consumption of each item per day at this scale (what the lines imply)."""
    per_cat = _expected_lines(ln.scale).sum(axis=1)
    pc = m.item_cat[m.pair_item]
    weight_in_cat = np.bincount(pc, weights=m.pair_w, minlength=len(CATEGORIES))
    lines = per_cat[pc] * m.pair_w / weight_in_cat[pc]
    qty = lines * m.item_q0[m.pair_item] * np.exp(QTY_SIGMA**2 / 2)
    days = _day(HORIZON) - _day(FIRST_DAY) + 1
    return np.bincount(m.pair_item, weights=qty, minlength=len(m.item_id)) / days


def _inventory(
    rng: np.random.Generator, m: Master, ln: Lines, plan: Plan, fx: Fx
) -> tuple[pl.DataFrame, np.ndarray]:
    """Month-end stock of the stocked items at two or three locations, and the safety stock
    of every item (milli-units; -1 where the item is not stocked)."""
    usage = _usage_per_day(m, ln)
    items = np.flatnonzero(m.item_stocked)
    n_loc = np.where(rng.random(len(items)) < 0.4, 3, 2)
    locs = rng.permuted(np.tile(np.arange(3), (len(items), 1)), axis=1)
    held = np.arange(3)[None, :] < n_loc[:, None]
    il_item = np.repeat(items, n_loc)
    il_loc = locs[held]
    weight = rng.uniform(0.5, 1.5, len(il_item))
    weight /= np.bincount(il_item, weights=weight, minlength=len(m.item_id))[il_item]
    rate = usage[il_item] * weight
    unit = np.where(m.item_qdec[il_item] > 0, 0.001, 1.0)
    spare = m.item_spare[il_item]

    per_loc = usage[items] / n_loc
    safety_item = np.ceil(per_loc * np.minimum(m.item_lead[items], 30) * 0.5)
    safety_item = np.where(
        m.item_spare[items], rng.choice([1, 2, 2, 3, 4], len(items)), np.maximum(safety_item, 1)
    )
    safety_of = np.full(len(m.item_id), -1.0)
    safety_of[items] = safety_item
    safety = safety_of[il_item]
    order = np.maximum(unit, rate * 30)
    max_stock = safety + np.ceil(order * 1.3)

    snaps = _month_starts(N_MONTHS)[1:47] - 1  # month ends 2023-01 .. 2026-10
    n_il, n_s = len(il_item), len(snaps)
    shape = (n_il, n_s)
    issued = np.round(rate[:, None] * 90 * rng.uniform(0.75, 1.25, shape) / unit[:, None])
    issued *= unit[:, None]
    on_hand = safety[:, None] + np.round(order[:, None] * rng.uniform(0.15, 1.1, shape))
    # some locations over-order for a while: excess over the maximum
    spell = rng.random(n_il) < 0.08
    from_s = rng.integers(0, n_s - 4, n_il)
    length = rng.integers(4, 10, n_il)
    s_idx = np.arange(n_s)[None, :]
    in_spell = spell[:, None] & (s_idx >= from_s[:, None]) & (s_idx < (from_s + length)[:, None])
    on_hand = np.where(
        in_spell, np.round(max_stock[:, None] * rng.uniform(1.3, 2.0, shape)), on_hand
    )
    last = _last_issue(rng, issued, snaps)

    # phased-out items: issues stop, the rest of the stock stays (obsolete after 180 days)
    stop = m.item_stop[il_item]
    after = snaps[None, :] >= stop[:, None]
    left = 1.0 - np.clip((snaps[None, :] - stop[:, None]) / 90.0, 0.0, 1.0)
    issued = np.where(after, np.round(issued * left), issued)
    last = np.where(after, np.minimum(last, (stop - rng.integers(1, 6, n_il))[:, None]), last)
    stranded = safety + np.round(order * rng.uniform(0.8, 2.5, n_il)) + 1
    on_hand = np.where(after, stranded[:, None], on_hand)

    # story 3: critical spares rarely move, and sit at (or just below) their safety stock
    events = _spare_issues(rng, n_il)
    sp_last, sp_issued, sp_short = _spare_history(events, snaps, m.item_lead[il_item])
    extra = np.where(rng.random(n_il) < 0.2, rng.integers(1, 4, n_il), 0)  # a few overstocked
    sp_on_hand = np.maximum(safety[:, None] - sp_short + extra[:, None], 0)
    issued = np.where(spare[:, None], sp_issued, issued)
    last = np.where(spare[:, None], sp_last, last)
    on_hand = np.where(spare[:, None], sp_on_hand, on_hand)
    max_stock = np.where(spare, safety + 1, max_stock)

    cost = _unit_cost_eur(m, plan, fx, il_item, snaps)
    flat = np.arange(n_il * n_s)
    il, s = flat // n_s, flat % n_s
    frame = pl.DataFrame(
        {
            "snapshot_date": _dates(snaps[s]),
            "item_id": pl.Series(m.item_id).gather(il_item[il]),
            "location": pl.Series(LOCATIONS).gather(il_loc[il]),
            "on_hand_qty": np.round(on_hand.ravel() * 1000).astype(np.int64),
            "unit_cost": cost.ravel(),
            "currency": np.full(len(flat), "EUR"),
            "safety_stock_qty": np.round(safety[il] * 1000).astype(np.int64),
            "max_stock_qty": np.round(max_stock[il] * 1000).astype(np.int64),
            "last_issue_date": _dates(last.ravel()),
            "issued_qty_90d": np.round(issued.ravel() * 1000).astype(np.int64),
        }
    )
    safety_milli = np.where(safety_of >= 0, np.round(safety_of * 1000), -1).astype(np.int64)
    return frame, safety_milli


def _last_issue(rng: np.random.Generator, issued: np.ndarray, snaps: np.ndarray) -> np.ndarray:
    """Day of the last issue at each snapshot: days ago when stock moved, else carried on."""
    n_il, n_s = issued.shape
    last = np.empty(issued.shape, dtype=np.int64)
    prev = snaps[0] - rng.integers(20, 200, n_il)
    for s in range(n_s):  # one step per month, all locations at once
        recent = _back_to_weekday(snaps[s] - rng.integers(0, 12, n_il))
        prev = np.where(issued[:, s] > 0, recent, prev)
        last[:, s] = prev
    return last


def _spare_issues(rng: np.random.Generator, n: int) -> np.ndarray:
    """Up to two issue days per location (2023-2025), and one in 2021-2022 before them."""
    early = rng.integers(_day(date(2021, 1, 1)), _day(date(2022, 12, 31)), n)
    later = rng.integers(_day(date(2023, 3, 1)), _day(date(2025, 12, 31)), (n, 2))
    later = np.where(rng.random((n, 2)) < 0.45, later, early[:, None])
    return _back_to_weekday(np.c_[early, later])


def _spare_history(
    events: np.ndarray, snaps: np.ndarray, lead: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Last issue, issues in the last 90 days and units short (awaiting replenishment)."""
    ev = events[:, :, None]
    sn = snaps[None, None, :]
    seen = ev <= sn
    last = np.where(seen, ev, 0).max(axis=1)
    recent = (seen & (sn - ev < 90)).sum(axis=1)
    short = (seen & (sn - ev < lead[:, None, None])).any(axis=1).astype(int)
    return last, recent, short


def _unit_cost_eur(
    m: Master, plan: Plan, fx: Fx, il_item: np.ndarray, snaps: np.ndarray
) -> np.ndarray:
    """Stock valued at the main supplier's price of the day, in EUR (1/10,000)."""
    main = np.full(len(m.item_id), -1)
    main[m.pair_item[m.pair_main]] = np.flatnonzero(m.pair_main)
    pair = main[il_item][:, None]
    year = np.clip(_year(snaps) - 2023, 0, 3)[None, :]
    price = np.where(
        snaps[None, :] >= plan.price_from[pair], plan.price_new[pair], m.pair_price[pair, year]
    )
    rate = fx.daily[m.sup_cur[m.pair_sup[pair]], snaps[None, :] - fx.first_day]
    return np.round(price * rate).astype(np.int64)


# ---- savings initiatives, price outlook, master tables ------------------------------------
def _savings_table(m: Master, ln: Lines, plan: Plan, usage: np.ndarray) -> pl.DataFrame:
    """The initiatives, with the volume they were sized on (the year before they start)."""
    order = np.argsort(ln.pair, kind="stable")
    pairs = ln.pair[order]
    days = ln.doc_day[ln.doc][order]
    qty = ln.qty[order]
    volume = np.zeros(len(plan.pair))
    for j, (p, s) in enumerate(zip(plan.pair, plan.start, strict=True)):
        lo, hi = np.searchsorted(pairs, p, "left"), np.searchsorted(pairs, p, "right")
        d = days[lo:hi]
        seen = np.minimum(s, AS_OF_DAY)
        volume[j] = qty[lo:hi][(d < seen) & (d >= seen - 365)].sum() / 1000
    fallback = usage[m.pair_item[plan.pair]] * 365
    unit = np.where(m.item_qdec[m.pair_item[plan.pair]] > 0, 0.001, 1.0)
    volume = np.where(volume > 0, volume, np.maximum(unit, np.round(fallback / unit) * unit))
    volume = np.where(
        plan.kind == "demand_reduction", np.round(volume * 0.75 / unit) * unit, volume
    )
    numbers, rank = _numbers("SI", plan.start, plan.pair, width=3)
    ids = numbers.gather(rank)
    sup = m.pair_sup[plan.pair]
    item = m.pair_item[plan.pair]
    frame = pl.DataFrame(
        {
            "initiative_id": ids,
            "title": plan.title,
            "kind": plan.kind,
            "category": pl.Series(m.cat_names).gather(m.item_cat[item]),
            "supplier_id": pl.Series(m.sup_id).gather(sup),
            "item_id": pl.Series(m.item_id).gather(item),
            "baseline_unit_price": plan.baseline,
            "quoted_unit_price": plan.quoted,
            "negotiated_unit_price": plan.negotiated,
            "expected_volume": np.round(volume * 1000).astype(np.int64),
            "currency": pl.Series(CURRENCIES).gather(m.sup_cur[sup]),
            "start_date": _dates(plan.start),
            "end_date": _dates(np.maximum(plan.end, 0), plan.end < 0),
            "owner": plan.owner,
            "stage": plan.stage,
            "finance_status": plan.status,
            "finance_note": pl.Series(plan.note, dtype=pl.String),
        }
    )
    return frame.sort("initiative_id")


def _price_outlook(rng: np.random.Generator, m: Master) -> pl.DataFrame:
    quarters = [f"FY{y}-Q{q}" for y in (2026, 2027) for q in range(1, 5)]
    rows = []
    for name in m.cat_names:
        fy26, fy27, note26, note27 = PRICE_OUTLOOK[name]
        for k, quarter in enumerate(quarters):
            base = fy26 if k < 4 else fy27
            wobble = float(rng.choice([-0.5, 0.0, 0.0, 0.5]))
            rows.append(
                (quarter, name, round((base + wobble) * 10_000), note26 if k < 4 else note27)
            )
    return pl.DataFrame(
        rows, schema=["quarter", "category", "expected_change_pct", "note"], orient="row"
    )


def _suppliers_table(m: Master) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "supplier_id": m.sup_id,
            "supplier_name": m.sup_name,
            "country": m.sup_country,
            "size": np.where(m.sup_large, "large", "sme"),
            "preferred": m.sup_pref,
            "payment_terms_days": m.sup_terms,
            "discount_pct": np.round(m.sup_disc * 10_000).astype(np.int64),
            "discount_days": m.sup_disc_days,
            "strategic": m.sup_strategic,
            "single_source": m.sup_single,
        }
    )


def _items_table(m: Master, safety_milli: np.ndarray) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "item_id": m.item_id,
            "description": m.item_desc,
            "category": pl.Series(m.cat_names).gather(m.item_cat),
            "unit": m.item_unit,
            "safety_stock_qty": _nullable(safety_milli, safety_milli < 0),
            "lead_time_days": m.item_lead,
            "criticality": m.item_crit,
        }
    )


# ---- writing the store --------------------------------------------------------------------
def _select_list(table: Table, frame: pl.DataFrame) -> str:
    """Columns in schema order, cast to their types; decimals arrive as scaled integers."""
    out = []
    for col in table.columns:
        if col.name not in frame.columns:
            out.append(f"CAST(NULL AS {col.sql_type}) AS {col.name}")
        elif col.kind in _SCALE:
            step = "0." + "0" * (_SCALE[col.kind] - 1) + "1"
            out.append(
                f"CAST(CAST({col.name} AS DECIMAL(18,0)) * {step} AS {col.sql_type}) AS {col.name}"
            )
        else:
            out.append(f"CAST({col.name} AS {col.sql_type}) AS {col.name}")
    return ", ".join(out)


def _write(
    path: Path,
    tables: dict[str, pl.DataFrame],
    seed: int,
    scale: float,
    say: Callable[[str], None],
) -> dict[str, int]:
    """Insert the tables in order, letting go of each frame once it is in the store (at
    scale 50 the frames hold gigabytes, and DuckDB needs room to write them)."""
    counts: dict[str, int] = {}
    with Store(path).write(fresh=True) as con:
        for load_id, name in enumerate(list(tables), start=1):
            started = datetime.now()
            table = TABLES[name]
            frame = tables.pop(name)
            con.register("demo_frame", frame)
            con.execute(f"INSERT INTO {name} SELECT {_select_list(table, frame)} FROM demo_frame")
            con.unregister("demo_frame")
            rows = frame.height
            del frame
            amount = (
                con.execute(f"SELECT sum(amount) FROM {name}").fetchone()[0]
                if "amount" in table.column_names
                else None
            )
            con.execute(
                "INSERT INTO loads VALUES (?, ?, 'demo', ?, NULL, ?, ?, 0, ?, ?, ?, 'loaded', ?)",
                [
                    load_id,
                    name,
                    f"demo-seed{seed}-scale{scale:g}-{name}",
                    rows,
                    rows,
                    amount,
                    started,
                    datetime.now(),
                    f"demo data, seed {seed}, scale {scale:g}",
                ],
            )
            counts[name] = rows
    return counts


def build_demo(
    path: Path,
    seed: int = 42,
    scale: float = 1.0,
    progress: Callable[[str], None] | None = None,
) -> dict[str, int]:
    """Build the demo store at `path` from scratch (replacing any store there).

    `scale` 1 gives ~200,000 invoice lines, 10 about 2 million; suppliers, items and cost
    centres stay the same. Returns the number of rows written per table.
    """
    if not scale > 0:
        raise ValueError(f"--scale must be a positive number such as 0.05, 1 or 10, not {scale}")
    say = progress or (lambda _message: None)
    tables = _tables(np.random.default_rng(seed), scale, say)  # its working arrays freed
    say(f"Demo 6/6: writing {path}")
    return _write(Path(path), tables, seed, scale, say)


def _tables(
    rng: np.random.Generator, scale: float, say: Callable[[str], None]
) -> dict[str, pl.DataFrame]:
    """Every table of the demo, in the order they are written."""
    say("Demo 1/6: exchange rates, suppliers, items")
    fx = _fx_rates(rng)
    m = _master(rng)
    say("Demo 2/6: savings initiatives and contracts")
    plan = _initiatives(rng, m)
    contract_rows = _contract_rows(m, plan)
    say(f"Demo 3/6: about {round(LINES_AT_SCALE_1 * scale):,} invoice lines")
    ln = _lines(rng, scale, m, plan)
    say("Demo 4/6: purchase orders, goods receipts, invoices and payments")
    flow = _flow(rng, m, ln, contract_rows)
    say("Demo 5/6: budgets, stock snapshots, savings, price outlook")
    budgets = _budgets(rng, m, ln, fx)
    inventory, safety_milli = _inventory(rng, m, ln, plan, fx)
    savings = _savings_table(m, ln, plan, _usage_per_day(m, ln))
    tables = {
        "suppliers": _suppliers_table(m),
        "items": _items_table(m, safety_milli),
        "contracts": _contracts_table(m, contract_rows),
        "purchase_orders": flow.purchase_orders,
        "goods_receipts": flow.goods_receipts,
        "invoices": flow.invoices,
        "budgets": budgets,
        "inventory": inventory.sort("snapshot_date", "item_id", "location"),
        "savings_initiatives": savings,
        "price_outlook": _price_outlook(rng, m),
        "fx_rates": fx.table,
    }
    return tables
