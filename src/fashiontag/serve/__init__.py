"""The labelling service: ``create_app(settings, predictor)`` builds a FastAPI app.

Example:
    >>> from fashiontag.serve import FakePredictor, ServeSettings, create_app
    >>> app = create_app(ServeSettings(max_images=8), FakePredictor())
"""

from fashiontag.serve._app import create_app
from fashiontag.serve._fake import FakePredictor
from fashiontag.serve._predictor import LabellerPredictor, Predictor
from fashiontag.serve._server import run_server, uvicorn_options
from fashiontag.serve._settings import ServeSettings

__all__ = [
    "FakePredictor",
    "LabellerPredictor",
    "Predictor",
    "ServeSettings",
    "create_app",
    "run_server",
    "uvicorn_options",
]
