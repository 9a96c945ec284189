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
