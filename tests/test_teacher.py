"""Stage teacher: the large DS-CNN trained on the int8 features, its report and artifacts."""
import csv

from kws.artifacts import RunDir


def test_teacher_reports_its_size_accuracy_and_epochs(trained_run):
    run_dir, report, _ = trained_run
    entry = report["teacher"]
    for key in ("model", "params", "macs", "val_acc", "test_acc", "epochs", "train_seconds"):
        assert key in entry, key
    assert entry["epochs"] == 2 and 0 <= entry["test_acc"] <= 1 and entry["params"] > 0


def test_teacher_writes_checkpoints_metrics_and_confusion(trained_run):
    run_dir, _, _ = trained_run
    run = RunDir(run_dir)
    folder = run.trained("teacher")
    rows = list(csv.DictReader(open(folder / "metrics.csv")))
    assert [int(r["epoch"]) for r in rows] == [1, 2]
    assert run.checkpoint("teacher").exists() and (folder / "last.pt").exists()
    assert run.model_config("teacher")["first_channels"] == 24
    assert (folder / "confusion_test.png").stat().st_size > 1000
