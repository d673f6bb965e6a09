"""The mistake gallery names each photo's file and links it (the report opens from disk)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fashiontag.evaluate.report import thumbnail_data_uri, write_report
from fashiontag.evaluate.run import _gallery


def test_gallery_tiles_show_and_link_the_file(tmp_path: Path) -> None:
    import pandas as pd

    photo = tmp_path / "photos" / "shoe <1>.jpg"
    items = pd.DataFrame({"item_id": ["a", "b"], "path": [str(photo), str(tmp_path / "b.jpg")]})
    probs = np.array([[0.9, 0.1], [0.2, 0.8]])
    tiles = _gallery(
        np.zeros((2, 8, 8, 3), np.uint8),
        items,
        ["Tops", "Shoes"],
        probs,
        np.array([True, False]),
        ["Shoes", "Shoes"],
        "group",
        10,
    )
    assert [t["path"] for t in tiles] == [str(photo)]
    metrics = {
        "model": {"name": "m"},
        "data": {},
        "heads": {},
        "hierarchy": None,
        "robustness": [],
        "domain_shift": None,
        "calibration": None,
        "created": "now",
    }
    tiles[0]["uri"] = thumbnail_data_uri(np.zeros((8, 8, 3), np.uint8))
    html = write_report(tmp_path, metrics, {}, tiles).read_text()
    assert "shoe &lt;1&gt;.jpg</a>" in html
    assert f'href="{photo.resolve().as_uri()}"' in html
