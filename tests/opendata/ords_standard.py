"""The Open Repair Data Standard v0.3 as the standard writes it, for tests to check exports against.

Copied by hand from ``standard.rst`` of openrepair/datastandard at commit c1a1f29 (2024-05-30):
"Field names and data types", "ORDS product category values", "Repair status values" and
"Repair barrier values". Deliberately not derived from Circulo's own tables.
"""

from __future__ import annotations

# Every field name of the standard's field reference table (it sets no column order).
FIELDS = frozenset({
    "id", "partner_product_category", "product_category", "product_category_id", "brand",
    "year_of_manufacture", "product_age", "problem", "repair_status",
    "repair_barrier_if_end_of_life", "group_identifier", "event_date", "data_provider", "country",
    "record_date",
})  # fmt: skip

# The columns of the Open Repair Alliance's published v0.3 files (openrepair/data,
# aggregated/202507/tableschema.json), which carry no record_date.
PUBLISHED_ORDER = (
    "id", "data_provider", "country", "partner_product_category", "product_category",
    "product_category_id", "brand", "year_of_manufacture", "product_age", "repair_status",
    "repair_barrier_if_end_of_life", "group_identifier", "event_date", "problem",
)  # fmt: skip

PRODUCT_CATEGORIES = {
    1: "Aircon/dehumidifier", 2: "Battery/charger/adapter", 3: "Decorative or safety lights",
    4: "Desktop computer", 5: "Digital compact camera", 6: "DSLR/video camera", 7: "Fan",
    8: "Flat screen", 9: "Hair & beauty item", 10: "Handheld entertainment device",
    11: "Headphones", 12: "Hi-Fi integrated", 13: "Hi-Fi separates", 14: "Kettle", 15: "Lamp",
    16: "Laptop", 17: "Large home electrical", 18: "Misc", 19: "Mobile", 20: "Musical instrument",
    21: "Paper shredder", 22: "PC accessory", 23: "Portable radio", 24: "Power tool",
    25: "Printer/scanner", 26: "Projector", 27: "Sewing machine", 28: "Small home electrical",
    29: "Small kitchen item", 30: "Tablet", 31: "Toaster", 32: "Toy",
    33: "TV and gaming-related accessories", 34: "Vacuum", 35: "Watch/clock", 36: "Coffee maker",
    37: "Food processor", 38: "Games console", 39: "Hair dryer", 40: "Iron",
}  # fmt: skip

REPAIR_STATUSES = {0: "Unknown", 1: "Fixed", 2: "Repairable", 3: "End of life"}

REPAIR_BARRIERS = {
    1: "Spare parts not available",
    2: "Spare parts too expensive",
    3: "No way to open product",
    4: "Repair information not available",
    5: "Lack of equipment",
    6: "Item too worn out",
}
