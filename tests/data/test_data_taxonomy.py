"""Taxonomy validation errors name the line; built-in mapping rules hold on the real FPI table."""

from __future__ import annotations

from pathlib import Path

import pytest

from fashiontag.data.mapping import map_items
from fashiontag.data.readers import read_dataset
from fashiontag.data.taxonomy import TaxonomyError, list_taxonomies, load_taxonomy, parse_taxonomy, save_taxonomy

BAD = {
    "unknown parent": ("levels: [a, b]\nnodes:\n  - {name: A}\n  - {name: B, parent: Nope}\n", r":4:.*Nope"),
    "duplicate (nodes)": ("levels: [a]\nnodes:\n  - {name: A}\n  - {name: A}\n", r":4:.*duplicate name 'A'"),
    "duplicate (tree)": ("levels: [a, b]\ntree:\n  A: [x, y, x]\n", r":3:.*duplicate name 'x'"),
    "cycle": ("levels: [a, b]\nnodes:\n  - {name: A, parent: B}\n  - {name: B, parent: A}\n", r":\d:.*cycle"),
    "empty level": ("levels: [a, b]\ntree:\n  A: []\n  B: [y]\n", r":3:.*empty level"),
    "duplicate key": ("levels: [a, b]\ntree:\n  A: [x]\n  A: [y]\n", r":4:.*duplicate key \"A\""),
    "yaml syntax": ("levels: [a, b]\ntree:\n  A: [x\n", r":4:.*expected ',' or ']'"),
    "unknown key": ("levels: [a]\nnodes:\n  - {name: A}\nlevles: [b]\n", r":4:.*levles"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_taxonomy_errors_name_the_line(case: str) -> None:
    text, pattern = BAD[case]
    with pytest.raises(TaxonomyError, match=pattern):
        parse_taxonomy(text, "bad.yaml")


def test_yaml_1_2_scalars_stay_strings_and_save_round_trips(tmp_path: Path) -> None:
    text = "levels: [a]\nnodes:\n  - {name: Yes}\n  - {name: off}\nsources:\n  x: {k: 1.5, h: 0x10}\n"
    tax = parse_taxonomy(text)
    assert [tax.nodes[n].name for n in tax.leaves] == ["Yes", "off"]  # YAML 1.2: not booleans
    assert load_taxonomy(save_taxonomy(tax, tmp_path / "t.yaml")).to_dict() == tax.to_dict()
    assert type(tax.to_dict()["sources"]["x"]["k"]) is float  # plain scalars, not the loader's subclasses


def test_both_forms_agree() -> None:
    tree = parse_taxonomy("levels: [g, t]\ntree:\n  Shoes: [Heels, Flats]\n")
    nodes = parse_taxonomy("levels: [g, t]\nnodes:\n  - {name: Shoes}\n  - {name: Heels, parent: Shoes}\n"
                           "  - {name: Flats, parent: Shoes}\n")  # fmt: skip
    assert tree.leaves == ["Shoes > Heels", "Shoes > Flats"]
    # the nodes: form keeps the given id (default: the name) rather than the full path
    assert [nodes.nodes[n].name for n in nodes.leaves] == ["Heels", "Flats"]
    assert [nodes.nodes[n].depth for n in nodes.leaves] == [1, 1]


@pytest.mark.realdata
@pytest.mark.parametrize("name", list_taxonomies())
def test_builtin_mapping_on_real_fpi(shared_data: Path, name: str, fpi_items) -> None:
    tax = load_taxonomy(name)
    result = map_items(fpi_items, tax, "fpi")
    mapped = result.items["leaf"].dropna()
    assert len(mapped) > 1000
    assert set(mapped) <= set(tax.leaves)
    assert sum(result.unmapped.values()) == len(fpi_items) - len(mapped)
    for level in tax.levels:  # level columns agree with the leaf's ancestors
        row = result.items.dropna(subset=["leaf"]).iloc[0]
        path = tax.ancestors(row["leaf"])
        assert row[level] == (path[tax.levels.index(level)] if tax.levels.index(level) < len(path) else None)
    if name == "fpi":
        assert len(mapped) == len(fpi_items)


@pytest.fixture(scope="module")
def fpi_items(shared_data: Path):
    return read_dataset("fpi", shared_data / "fpi_small", hash_files=False).items


def test_clothing_photos_rules_label_fpi_levels_down_to_one_node_and_keep_accept_sets() -> None:
    import pandas as pd

    tax = load_taxonomy("fpi")
    items = pd.DataFrame({"item_id": ["a", "b", "c"], "label": ["longsleeve", "t-shirt", "sock"]})
    result = map_items(items, tax, "clothing_photos")
    by_label = result.items.set_index("label")
    assert by_label.at["longsleeve", "leaf"] == "Apparel > Topwear"  # shared by several articleTypes: stops above
    assert by_label.at["longsleeve", "subCategory"] == "Apparel > Topwear"
    assert pd.isna(by_label.at["longsleeve", "articleType"])  # masked for training
    assert "Apparel > Topwear > Sweatshirts" in by_label.at["longsleeve", "accept"]  # still scored by accept set
    assert by_label.at["t-shirt", "articleType"] == "Apparel > Topwear > Tshirts"
    assert pd.isna(by_label.at["sock", "leaf"]) and result.unmapped == {"no rule matched": 1}


def test_rule_target_must_be_a_node() -> None:
    import pandas as pd

    tax = parse_taxonomy(
        "name: t\nlevels: [group, type]\ntree:\n  Tops: [Tees]\nsources:\n  s:\n    rules:\n"
        "      - {node: Tops > Hats, when: {label: hat}}\n"
    )
    with pytest.raises(TaxonomyError, match="Tops > Hats"):
        map_items(pd.DataFrame({"item_id": ["a"], "label": ["hat"]}), tax, "s")
