"""The demo's declarative reference data: dates of the story, categories with their item
catalogues and supplier name stems, countries, cost centres, buyers, price outlook, and
the stories planted in the data."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

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
USD_COST_CENTRE = "CC-4030"  # IT Services: budgeted in USD, most of its vendors bill in USD
# FY2026: the dollar weakens ~4.5 % against the euro between March and August
USD_MOVE = (date(2026, 3, 1), date(2026, 8, 31), 0.955)

STORIES = {
    "packaging_price_vs_volume": "Packaging: unit prices of the 2025 tender items fall ~8 % "
    "from 2025-04-01 against baseline, while volume grows ~25 % FY2025 over FY2024, so "
    "Packaging spend still rises.",
    "fast_paid_segment": "Large preferred suppliers have 60-day terms but are paid in ~20 days.",
    "slow_safety_stock": "Critical MRO spares (criticality critical, long lead times) have "
    "no issue for over 180 days but hold no more than safety stock: not obsolete.",
    "maverick_cost_centre": "CC-3030 Marketing & Events: invoices with no PO grow strongly "
    "in FY2026, so actual spend exceeds budget.",
}
# Cases planted so every finance rule has something to show (see kpi.demo.stories).
CASES = {
    "credit_notes": "Credit notes (CN-...): negative lines for goods sent back, most "
    "naming the original invoice's PO, some already settled, in every quarter.",
    "missing_due_dates": "Two suppliers leave the due date off a few % of their invoices.",
    "after_the_fact_po": "A handful of POs a quarter are raised after their invoice.",
    "unknown_po": "A few invoices quote a PO number that does not exist.",
    "unapproved_po": "A few invoiced POs were never approved (approved_date empty).",
    "overdue_and_partial": "PO lines past their promised date with nothing or not all "
    "received at 2026-10-31, and partial deliveries completed after the promised date.",
    "usd_cost_centre": "CC-4030 IT Services is budgeted in USD while the dollar weakens "
    "~4.5 % from March to August 2026.",
    "lump_sum_services": "Some facility services and all fee-based professional services "
    "are invoiced as a lump sum: no quantity, no unit price.",
    "mixed_units": "Raw materials are bought by the kg, the l and the m.",
    "new_and_idle_stock": "A few items stocked at a new location since 2026 have not been "
    "issued there yet; half of the phased-out items' stock sits at its safety level.",
    "supplier_terms_history": "On 2025-01-01 four fast-paid suppliers moved from 45 to 60 "
    "days and three began offering their discount (when the store has supplier_terms).",
}


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
               "type A|type B|fast cure|food grade", "l", (4.0, 22.0), (100, 1500)),
            _g("Steel tube E235|Stainless tube 1.4307|Copper tube",
               "12x1 mm|18x1.5 mm|22x1.5 mm|28x2 mm|35x2 mm|42x2 mm", "m", (2.5, 12.0),
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
# Who answers for each cost centre's budget (the cost_centres table's owner, an e-mail as
# the initiatives' owner: the CFO and Ana Ruiz of config/people.yaml for finance, facilities
# and procurement, the demo's buyers and managers elsewhere), and each one's department by
# the code's first digit.
CC_OWNERS = {
    "CC-1010": "markus.weber", "CC-1020": "petra.lang", "CC-1030": "petra.lang",
    "CC-1040": "stefan.roth", "CC-1050": "lena.hoffmann", "CC-1060": "nadia.haddad",
    "CC-1070": "tobias.klein", "CC-1080": "jan.devries", "CC-2010": "erik.lindqvist",
    "CC-2020": "sophie.martin", "CC-3010": "thomas.maier", "CC-3020": "julie.bernard",
    "CC-3030": "elena.rossi", "CC-3040": "julie.bernard", "CC-4010": "claire.dubois",
    "CC-4020": "maria.santos", "CC-4030": "sophie.martin", "CC-4040": "daniel.fischer",
    "CC-4050": "ana.ruiz", "CC-4060": "claire.dubois",
}
CC_DEPARTMENTS = {"1": "Operations", "2": "Research & Development", "3": "Sales & Marketing",
                  "4": "Administration"}
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


INITIATIVE_NOTES = {
    ("price_reduction", "accepted"): "Lower price verified on invoices against the prior contract.",
    ("price_reduction", "rejected"): "Baseline is a one-off spot price, not what we paid.",
    ("cost_avoidance", "accepted"): "The increase was in the budget: accepted as budget relief.",
    ("cost_avoidance", "rejected"): "The increase never reached the budget: avoidance, not a "
    "saving.",
    ("demand_reduction", "accepted"): "Lower consumption visible in the cost centre's actuals.",
    ("value_add", "rejected"): "No effect on the P&L; track it as supplier performance.",
}
STATUS_ODDS = {  # accepted, pending, rejected
    "price_reduction": (0.7, 0.2, 0.1),
    "cost_avoidance": (0.2, 0.45, 0.35),
    "demand_reduction": (0.5, 0.5, 0.0),
    "value_add": (0.0, 0.6, 0.4),
}
VALUE_ADD = (
    "Consignment stock at our site",
    "Free extended warranty",
    "Supplier-managed inventory",
    "Free technical training",
)
