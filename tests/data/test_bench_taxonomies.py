"""The benchmarks' own taxonomy files map what their comments say they map."""

from pathlib import Path

import pandas as pd

from fashiontag.data.mapping import map_items
from fashiontag.data.taxonomy import load_taxonomy

BENCH = Path(__file__).resolve().parents[2] / "bench"


def test_shop10_fpi_maps_packshots_into_the_shop_classes() -> None:
    tax = load_taxonomy(BENCH / "shop10_fpi.yaml")
    assert tax.levels == ["class"] and len(tax.leaves) == 10
    fpi = pd.DataFrame({
        "item_id": list("abcdef"), "path": list("abcdef"),
        "masterCategory": ["Apparel", "Apparel", "Footwear", "Apparel", "Apparel", "Accessories"],
        "subCategory": ["Topwear", "Bottomwear", "Shoes", "Topwear", "Topwear", "Watches"],
        "articleType": ["Tshirts", "Jeans", "Sports Shoes", "Sweatshirts", "Sweaters", "Watches"],
    })  # fmt: skip
    leaves = map_items(fpi, tax, "fpi").items["leaf"].tolist()
    assert leaves[:5] == ["t-shirt", "pants", "shoes", "longsleeve", "longsleeve"]  # the shop's are mostly sweaters
    assert pd.isna(leaves[5])  # watches are not the shop's
    photos = pd.DataFrame({"item_id": ["x", "y"], "path": ["x", "y"], "label": ["skirt", "outwear"]})
    assert map_items(photos, tax, "folder").items["leaf"].tolist() == ["skirt", "outwear"]
