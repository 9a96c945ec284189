"""Evaluation of a classifier's predictions, as SER papers report it (scikit-learn's metrics).

- WA (weighted accuracy) = plain accuracy: every clip counts the same.
- UA (unweighted average recall) = balanced accuracy: the mean of per-class recalls, over the
  classes present in `y_true`; the headline metric for imbalanced emotion sets.
- macro-F1 over the classes that occur (in truth or prediction).

WA and UA are the measures of the INTERSPEECH 2009 Emotion Challenge (Schuller, Steidl and
Batliner 2009), which made UA the primary one; paper 002 reports both, as WA and UA.
"""

from __future__ import annotations

import warnings

import numpy as np


def evaluate(y_true, y_pred, labels: list[str]) -> dict:
    """JSON-serialisable metrics: wa, ua, macro_f1, n, labels, per_class {label: precision, recall,
    f1, support}, confusion_matrix (rows = truth, columns = prediction, in `labels` order).

    `y_true`, `y_pred`: int class indices into `labels`, shape (n,) (anything array-like,
    flattened). Scores are floats in [0, 1] (a class never predicted has precision 0, one absent
    from `y_true` recall 0 and support 0); `n` and supports are ints; the confusion matrix is a
    C x C list of int lists, C = len(labels). Raises ValueError on an empty set or when the two
    lengths differ.
    """
    from sklearn.metrics import (
        accuracy_score,
        balanced_accuracy_score,
        confusion_matrix,
        f1_score,
        precision_recall_fscore_support,
    )

    y_true = np.asarray(y_true, dtype=np.int64).reshape(-1)
    y_pred = np.asarray(y_pred, dtype=np.int64).reshape(-1)
    if y_true.size == 0:
        raise ValueError("cannot evaluate on an empty set")
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true and y_pred differ in length: {y_true.size} != {y_pred.size}")
    idx = list(range(len(labels)))
    with warnings.catch_warnings():
        # "y_pred contains classes not in y_true": expected on small splits, UA ignores them.
        warnings.simplefilter("ignore", UserWarning)
        ua = balanced_accuracy_score(y_true, y_pred)
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=idx, zero_division=0
    )
    return {
        "n": int(y_true.size),
        "wa": float(accuracy_score(y_true, y_pred)),
        "ua": float(ua),
        "macro_f1": float(f1_score(y_true, y_pred, average="macro", zero_division=0)),
        "labels": list(labels),
        "per_class": {
            label: {
                "precision": float(precision[i]),
                "recall": float(recall[i]),
                "f1": float(f1[i]),
                "support": int(support[i]),
            }
            for i, label in enumerate(labels)
        },
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=idx).tolist(),
    }


SUMMARY_METRICS = ("ua", "wa", "macro_f1")


def cross_validation_summary(fold_metrics: list[dict], labels: list[str]) -> dict:
    """Summarise the test metrics of the k folds of a cross-validated run.

    1. Per fold: UA, WA, macro-F1 and n_test (the fold's test clips), from its `evaluate` output.
    2. Mean and sample standard deviation over the folds (numpy, `ddof=1`: the folds are a sample
       of the ways the corpus could have been cut; with k = 2 it is |a - b| / sqrt(2)).
    3. Pooled: the folds' confusion matrices summed, which counts every test prediction of every
       fold once, then `evaluate` on the (truth, prediction) pairs that matrix holds. UA, WA and
       macro-F1 depend on the predictions only through that matrix, so this equals `evaluate` on
       the concatenated predictions.

    Args:
        fold_metrics: one `evaluate` output per fold, in fold order (k >= 2), each with "ua",
            "wa", "macro_f1", "n" and a C x C "confusion_matrix" in `labels` order.
        labels: the C label names.
    Returns:
        JSON-serialisable {"k", "labels", "folds": [{"fold", "ua", "wa", "macro_f1", "n_test"}],
        "mean": {metric: float}, "std": {metric: float}, "std_ddof": 1, "pooled": `evaluate`
        output over all folds, "confusion_matrix": the summed C x C int matrix, "n_test": total}.
    Raises:
        ValueError: fewer than two folds, or a confusion matrix of another shape than C x C.
    """
    if len(fold_metrics) < 2:
        raise ValueError(f"cross-validation needs at least two folds, got {len(fold_metrics)}")
    C = len(labels)
    matrices = [np.asarray(m["confusion_matrix"], dtype=np.int64) for m in fold_metrics]
    for f, matrix in enumerate(matrices):
        if matrix.shape != (C, C):
            raise ValueError(f"fold {f}: confusion matrix of shape {matrix.shape}, expected ({C}, {C})")
    folds = [
        {"fold": f, "ua": m["ua"], "wa": m["wa"], "macro_f1": m["macro_f1"], "n_test": int(m["n"])}
        for f, m in enumerate(fold_metrics)
    ]
    table = np.array([[row[k] for k in SUMMARY_METRICS] for row in folds], dtype=float)
    summed = np.sum(matrices, axis=0)
    truth, predicted = np.nonzero(summed)
    counts = summed[truth, predicted]
    pooled = evaluate(np.repeat(truth, counts), np.repeat(predicted, counts), labels)
    return {
        "k": len(folds),
        "labels": list(labels),
        "folds": folds,
        "mean": dict(zip(SUMMARY_METRICS, table.mean(axis=0).tolist(), strict=True)),
        "std": dict(zip(SUMMARY_METRICS, table.std(axis=0, ddof=1).tolist(), strict=True)),
        "std_ddof": 1,
        "pooled": pooled,
        "confusion_matrix": summed.tolist(),
        "n_test": int(summed.sum()),
    }
