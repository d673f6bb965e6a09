"""The Label Studio labelling configuration for a taxonomy, and reading one back.

One ``<Taxonomy>`` tag holds the whole tree (``leafsOnly``: a reviewer picks a leaf, so the answer maps to
one training label), and one single-choice ``<Choices>`` tag per attribute. Names are fixed here and read
back by :func:`parse_config`, so a project whose config a user edited (renamed tags, extra tags) still
pre-labels and imports as long as the Image, Taxonomy and attribute tags are there.

Example:
    >>> from fashiontag.data.synthetic import TAXONOMY_YAML
    >>> from fashiontag.data.taxonomy import Taxonomy
    >>> import yaml
    >>> xml = labelling_config(Taxonomy.from_dict(yaml.safe_load(TAXONOMY_YAML)))
    >>> parse_config(xml).taxonomy, parse_config(xml).choices
    ('taxonomy', {'colour': 'colour'})
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

from fashiontag.data.taxonomy import Taxonomy, TaxonomyError

IMAGE_NAME = "image"
IMAGE_KEY = "image"
TAXONOMY_NAME = "taxonomy"


class LabelConfigError(ValueError):
    """A Label Studio labelling config that lacks what fashiontag needs (an Image tag, a Taxonomy tag)."""


@dataclass(frozen=True)
class ConfigNames:
    """Tag names in one labelling config: where the image is and which control holds which head."""

    image: str = IMAGE_NAME
    image_key: str = IMAGE_KEY
    taxonomy: str = TAXONOMY_NAME
    choices: dict[str, str] = field(default_factory=dict)  # attribute -> Choices tag name


def default_names(taxonomy: Taxonomy) -> ConfigNames:
    """The names :func:`labelling_config` writes for ``taxonomy``."""
    return ConfigNames(choices={attribute: attribute for attribute in taxonomy.attributes})


def _add_children(parent: ET.Element, taxonomy: Taxonomy, node_id: str | None) -> None:
    for child in taxonomy.children(node_id):
        element = ET.SubElement(parent, "Choice", value=taxonomy.nodes[child].name)
        _add_children(element, taxonomy, child)


def labelling_config(taxonomy: Taxonomy) -> str:
    """The ``<View>`` XML for reviewing ``taxonomy``: Image, a Taxonomy tag for the tree, Choices per attribute.

    Raises:
        TaxonomyError: an attribute is named like one of the fixed tags (``image``, ``taxonomy``).
    """
    reserved = {IMAGE_NAME, TAXONOMY_NAME}
    clash = sorted(reserved & set(taxonomy.attributes))
    if clash:
        raise TaxonomyError(f"{taxonomy.name}: attribute names {clash} clash with Label Studio tags {sorted(reserved)}")
    view = ET.Element("View")
    ET.SubElement(view, "Image", name=IMAGE_NAME, value=f"${IMAGE_KEY}", zoom="true")
    ET.SubElement(view, "Header", value=" > ".join(taxonomy.levels))
    tree = ET.SubElement(
        view, "Taxonomy", name=TAXONOMY_NAME, toName=IMAGE_NAME, leafsOnly="true", maxUsages="1", required="true"
    )
    _add_children(tree, taxonomy, None)
    for attribute, values in taxonomy.attributes.items():
        ET.SubElement(view, "Header", value=attribute)
        choices = ET.SubElement(view, "Choices", name=attribute, toName=IMAGE_NAME, choice="single", showInline="true")
        for value in values:
            ET.SubElement(choices, "Choice", value=str(value))
    ET.indent(view)
    return ET.tostring(view, encoding="unicode") + "\n"


def parse_config(xml: str, attributes: list[str] | None = None) -> ConfigNames:
    """Find the Image tag, its data key, the Taxonomy tag and the Choices tag of each attribute.

    A Choices tag belongs to attribute ``a`` when it is named ``a``; ``attributes`` (the model's) limits the
    search, and attributes without a tag are left out (they are then neither pre-labelled nor imported).

    Raises:
        LabelConfigError: not XML, no Image tag with a ``$key`` value, or no Taxonomy tag pointing at it.
    """
    try:
        root = ET.fromstring(xml)
    except ET.ParseError as exc:
        raise LabelConfigError(f"labelling config is not valid XML: {exc}") from None
    images = [e for e in root.iter("Image") if str(e.get("value", "")).startswith("$")]
    if not images:
        raise LabelConfigError('labelling config has no <Image name=... value="$key"> tag')
    image = images[0]
    image_name = image.get("name", IMAGE_NAME)
    trees = [e for e in root.iter("Taxonomy") if e.get("toName") == image_name]
    if not trees:
        raise LabelConfigError(
            f"labelling config has no <Taxonomy toName={image_name!r}> tag; "
            "write one with `fashiontag labelstudio config`"
        )
    wanted = set(attributes) if attributes is not None else None
    choices = {
        e.get("name", ""): e.get("name", "")
        for e in root.iter("Choices")
        if e.get("toName") == image_name and (wanted is None or e.get("name") in wanted)
    }
    return ConfigNames(
        image=image_name, image_key=image.get("value", "")[1:], taxonomy=trees[0].get("name", ""), choices=choices
    )
