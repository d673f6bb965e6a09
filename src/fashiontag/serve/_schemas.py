"""Pydantic response models: they validate what the service sends and document it in OpenAPI."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from fashiontag.data.taxonomy import Taxonomy


class Candidate(BaseModel):
    label: str | None = Field(None, description="Display name of the label.")
    id: str | None = Field(None, description="Node id (levels: full path joined by ' > '; attributes: the value).")
    confidence: float = Field(..., ge=0.0, le=1.0)


class HeadLabel(Candidate):
    accepted: bool = Field(..., description="Confidence >= the head's threshold and the parent level accepted.")
    top_k: list[Candidate] = Field(default_factory=list)


class ImageResult(BaseModel):
    """One image's labels, as the Labeller returns them (docs/design.md, "Labeller result")."""

    source: str | None = Field(None, description="The uploaded file's name.")
    labels: dict[str, HeadLabel] = Field(default_factory=dict, description="One entry per head (levels, attributes).")
    level_reached: str | None = Field(None, description="Deepest accepted level, null if none.")
    needs_review: bool = Field(False, description="Some review head (default: every level) was not accepted.")
    uncertain_attributes: list[str] = Field(default_factory=list, description="Attributes not accepted.")
    error: str | None = Field(None, description="Why this image could not be labelled; labels is then empty.")


class LabelsResponse(BaseModel):
    results: list[ImageResult]


class ErrorResponse(BaseModel):
    detail: str


class TreeNode(BaseModel):
    id: str
    name: str
    children: list[TreeNode] = Field(default_factory=list)


class TaxonomyResponse(BaseModel):
    name: str
    version: str
    levels: list[str]
    attributes: dict[str, list[str]]
    tree: list[TreeNode]

    @classmethod
    def from_taxonomy(cls, tax: Taxonomy) -> TaxonomyResponse:
        def build(node_id: str) -> TreeNode:
            children = [build(c) for c in tax.children(node_id)]
            return TreeNode(id=node_id, name=tax.nodes[node_id].name, children=children)

        return cls(
            name=tax.name,
            version=tax.version,
            levels=list(tax.levels),
            attributes={k: list(v) for k, v in tax.attributes.items()},
            tree=[build(n) for n in tax.children(None)],
        )


class HealthResponse(BaseModel):
    status: str


class InfoResponse(BaseModel):
    """What the web page needs to know: readiness, model and the request limits."""

    ready: bool
    model: dict[str, Any]
    max_images: int
    max_upload_bytes: int
    allowed_content_types: list[str]
