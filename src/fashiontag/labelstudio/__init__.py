"""Label Studio: labelling config from a taxonomy, predictions as pre-annotated tasks, reviewed labels back.

Sits after ``infer`` (it labels through ``fashiontag.load``) and before ``serve`` (whose ML-backend routes
reuse :func:`prediction_from_result`). Label Studio itself is never imported: files and HTTP only.

Example:
    >>> from fashiontag.labelstudio import labelling_config
    >>> from fashiontag.data.taxonomy import load_taxonomy
    >>> "<Taxonomy" in labelling_config(load_taxonomy("retail4"))
    True
"""

from fashiontag.labelstudio.config import ConfigNames, LabelConfigError, default_names, labelling_config, parse_config
from fashiontag.labelstudio.importer import ExportFormatError, ImportSummary, import_export, manifest_columns
from fashiontag.labelstudio.link import ImageFetchError, LabelStudioLink
from fashiontag.labelstudio.tasks import (
    image_url,
    predict_results,
    prediction_from_result,
    read_prediction_file,
    tasks_from_predictions,
)

__all__ = [
    "ConfigNames",
    "ExportFormatError",
    "ImageFetchError",
    "ImportSummary",
    "LabelConfigError",
    "LabelStudioLink",
    "default_names",
    "image_url",
    "import_export",
    "labelling_config",
    "manifest_columns",
    "parse_config",
    "predict_results",
    "prediction_from_result",
    "read_prediction_file",
    "tasks_from_predictions",
]
