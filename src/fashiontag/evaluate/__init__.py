"""Evaluation: per-head metrics, hierarchy scores, calibration, robustness, k-fold summaries, reports.

Example:
    >>> from fashiontag.evaluate import evaluate_model  # doctest: +SKIP
    >>> metrics = evaluate_model("runs/m1", items, "test", "runs/m1/eval")  # doctest: +SKIP
"""

from fashiontag.evaluate._data import EvalSet, load_eval_set
from fashiontag.evaluate._predict import network_predictor
from fashiontag.evaluate.calibration import (
    apply_temperature,
    fit_network_temperature,
    fit_temperature,
    fit_temperatures,
    save_calibration,
)
from fashiontag.evaluate.compare import compare_runs
from fashiontag.evaluate.hierarchy import decode_top_down, fit_thresholds, hierarchy_metrics
from fashiontag.evaluate.kfold import summarise_folds
from fashiontag.evaluate.metrics import head_metrics
from fashiontag.evaluate.report import render_report, write_report
from fashiontag.evaluate.robustness import CORRUPTIONS, apply_corruption, list_corruptions, robustness_sweep
from fashiontag.evaluate.run import EvaluateConfig, calibrate_saved_model, evaluate_model, summary_table

__all__ = [
    "CORRUPTIONS",
    "EvalSet",
    "EvaluateConfig",
    "apply_corruption",
    "apply_temperature",
    "calibrate_saved_model",
    "compare_runs",
    "decode_top_down",
    "evaluate_model",
    "fit_network_temperature",
    "fit_temperature",
    "fit_temperatures",
    "fit_thresholds",
    "head_metrics",
    "hierarchy_metrics",
    "list_corruptions",
    "load_eval_set",
    "network_predictor",
    "render_report",
    "robustness_sweep",
    "save_calibration",
    "summarise_folds",
    "summary_table",
    "write_report",
]
