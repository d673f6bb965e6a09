"""The ``fashiontag`` entry point: input errors become one ``error:`` line and exit code 2; output is line-buffered."""

import io
import sys

import pytest

from fashiontag.cli.main import main
from fashiontag.data.synthetic import make_synthetic_dataset


def test_unknown_source_is_one_line_not_a_traceback(tmp_path, monkeypatch, capsys) -> None:
    manifest, taxonomy = make_synthetic_dataset(tmp_path / "data", per_leaf=2, size=16)
    monkeypatch.setattr(
        sys,
        "argv",
        [
            "fashiontag",
            "data",
            "split",
            str(manifest),
            "--reader",
            "manifest",
            "--taxonomy",
            str(taxonomy),
            "--source",
            "nope",
            "--out",
            str(tmp_path / "split.csv"),
        ],
    )
    with pytest.raises(SystemExit) as exit_info:
        main()
    err = capsys.readouterr().err
    assert exit_info.value.code == 2
    assert err.startswith("error: TaxonomyError:") and "nope" in err and "manifest" in err
    assert "Traceback" not in err and not (tmp_path / "split.csv").exists()


def test_output_reaches_a_redirected_file_line_by_line(monkeypatch) -> None:
    """``train ... > log``: a block-buffered stdout (a file or pipe) would hold the epoch lines until exit."""
    raw = io.BytesIO()
    stream = io.TextIOWrapper(raw, encoding="utf-8")  # what Python gives a redirected stdout: not line-buffered
    monkeypatch.setattr(sys, "stdout", stream)
    monkeypatch.setattr(sys, "argv", ["fashiontag", "--help"])
    with pytest.raises(SystemExit):
        main()
    print("   epoch 1/8: accuracy 0.84")  # no flush: a line-buffered stream writes it through at the newline
    assert raw.getvalue().endswith(b"epoch 1/8: accuracy 0.84\n")
