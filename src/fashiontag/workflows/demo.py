"""The end-to-end demo behind ``make demo``: inspect, split, train, evaluate, export, report.

Each step is one library call of a stage, so the demo doubles as the reference for using them together.
Sized for 2 CPU cores: training runs under ``time_limit=10m`` and picks the best recipe that fits this
machine (cached-trunk fine-tuning on a typical 2-core CPU, see BENCHMARKS.md), printing what it chose. The
model labels with test-time flip inside the network (``test_flip``): on FPI it adds up to 0.6 pt on most heads
and ranks articleType confidence better for the review policy, for twice the labelling cost. No label
smoothing: it squeezes the confident end of the softmax where the review thresholds live (three pairs of runs
in BENCHMARKS.md: same accuracy, the attributes' own flags accept far more without it).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from fashiontag.artifact import training_cache_dir


def _step(name: str, echo: Callable[[str], None]) -> Callable[[], None]:
    start = time.perf_counter()
    echo(f"\n== {name}")
    return lambda: echo(f"   ({time.perf_counter() - start:.0f} s)")


def run_demo(
    data: str | Path, out: str | Path, overrides: Sequence[str] = (), echo: Callable[[str], None] = print
) -> dict[str, Any]:
    """Run the whole pipeline on a Fashion Product Images folder; returns the test metrics.

    Example:
        >>> run_demo("../shared/data/fpi_small", "runs/demo")  # doctest: +SKIP
    """
    from fashiontag.config import build_config
    from fashiontag.data.config import DataConfig
    from fashiontag.data.inspect import format_report, inspect_dataset
    from fashiontag.data.splits import split_dataset
    from fashiontag.evaluate import EvaluateConfig, evaluate_model, summary_table
    from fashiontag.export import export_onnx
    from fashiontag.train import TrainConfig, fit

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    data_config = DataConfig(reader="fpi", root=str(data), taxonomy="fpi")
    done = _step("1/5 inspect (labels, missing files, duplicates)", echo)
    echo(format_report(inspect_dataset(data_config, decode=False, progress=False)))
    done()
    done = _step("2/5 split (stratified 80/10/10, duplicate groups kept on one side)", echo)
    split_file = out / "split.csv"
    split_dataset(data_config, split_file)
    echo(f"   split written to {split_file}")
    done()
    train_config = build_config(
        TrainConfig, None, overrides, data=str(data), taxonomy="fpi", reader="fpi", source="fpi",
        split=str(split_file), out=str(out / "train"), backbone="tf_efficientnet_lite0", time_limit="10m",
        image_size=80, batch_size=128, head_epochs=0, lr=2e-3, backbone_lr_scale=0.5, warmup_epochs=0.2,
        probe_steps=1000, progress_bar=False, test_flip=True, calibrate=False,  # step 4 fits them, then scores
    )  # fmt: skip
    budget = train_config.trainer.time_limit
    recipe = f"recipe planned for a {budget} budget" if budget else "recipe as given, no time limit"
    done = _step(f"3/5 train ({train_config.model.backbone}, ImageNet weights; {recipe})", echo)
    model_dir = fit(train_config)
    echo(f"   model: {model_dir}")
    done()
    done = _step("4/5 evaluate on the held-out test split (thresholds fitted on val)", echo)
    cache_dir = training_cache_dir(train_config.out, train_config.data.image_size)  # decoded once, by training
    metrics = evaluate_model(
        model_dir, str(cache_dir), split="test", out_dir=out / "eval",
        split_file=split_file, config=EvaluateConfig(calibrate_split="val", save_calibration=True),
    )  # fmt: skip
    echo(summary_table(metrics))
    done()
    done = _step("5/5 export ONNX (parity with PyTorch checked)", echo)
    export_onnx(model_dir)
    done()
    echo(f"\nReport: {out / 'eval' / 'report.html'}")
    echo(f"Label photos:  fashiontag predict {model_dir} PHOTOS... --out preds.csv")
    echo(f"Web page:      fashiontag serve {model_dir}   (then open http://127.0.0.1:8000)")
    return metrics
