"""The training loop shared by all families: `train(...)` and `export(...)`.

The Django side decodes a release's splits into `Dataset`s and calls `train`; everything the run
needs to survive a dead worker lives in `workdir`:

- `checkpoint.pt`: written (atomically) at the end of every epoch: model, optimizer, scheduler,
  grad scaler, epoch, step, history, best metric, early-stopping counter, RNG states, and a
  fingerprint of (family, hyper-parameters, labels, clip ids). `train(..., resume=True)` picks it
  up and continues with the next epoch; a checkpoint of another run is refused.
- `best.pt`: the weights of the epoch with the best validation UA (ties: lower validation loss).
- `top-<epoch>.pt`: with `average_top` N > 1, the weights of the N best epochs (`average_of`
  'best'; the exported model is their mean when that scores at least `best.pt` on validation) or
  of the last N (`average_of` 'last'; the exported model is their mean), see
  `TrainResult.averaged_epochs`.

Families with a `mixup` hyper-parameter > 0 train on mixed pairs of clips (`Family.mix`) with the
loss mixed alike; `lr_schedule` 'cosine' replaces the linear decay after the warm-up.
- `model/`: the exported artifact (see `export`), written once training ends.

Mixed precision: `precision="bf16"` / `"fp16"` autocast on CUDA (fp16 with a gradient scaler).
They are refused on the CPU (ValueError), including when `device="auto"` finds no GPU: CPU
autocast rarely speeds training up and fp16 needs a GPU loss scaler, so a CPU run is always fp32.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import random
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .dataset import Dataset, preprocess_all
from .families import TorchFamily, get_family
from .hparams import check_device_and_precision
from .metrics import evaluate

__all__ = ["Dataset", "GpuOutOfMemory", "Progress", "TrainResult", "export", "resolve_device", "train"]

logger = logging.getLogger(__name__)

CHECKPOINT = "checkpoint.pt"
BEST = "best.pt"
ARTIFACT = "model"
# Hyper-parameters that change how a run is executed, not what it computes: a retry may change them
# (e.g. fewer workers) and still resume.
_OPERATIONAL = {"num_workers", "progress_every", "n_jobs"}


@dataclass
class Progress:
    """What `on_progress` receives: at least every `progress_every` steps and at every epoch end.

    The classical family reports three steps of one epoch: training features ready, fit and
    validation done, export done. `train_loss` is a mean cross-entropy in nats.
    """

    epoch: int  # 1-based epoch in progress (or just finished when `epoch_done`)
    step: int  # optimizer steps done in the whole run
    total_steps: int  # steps of the whole run if it is not stopped early
    history: list[dict]  # one dict per finished epoch
    train_loss: float | None = None  # running mean over the current epoch
    epoch_done: bool = False


@dataclass
class TrainResult:
    """What `train` returns. Metrics dicts are `metrics.evaluate` outputs; `n_params` counts the
    torch model's parameters, or the numbers a fitted scikit-learn pipeline stores; `seconds` is
    the wall time of the call; `device` / `precision` are the resolved ones ('cpu' / 'fp32' for
    the classical family)."""

    family: str
    hparams: dict  # the full hyper-parameters (defaults filled in)
    history: list[dict]  # per epoch: train_loss, val_loss, val_ua, val_wa, val_macro_f1, lr, seconds
    test_metrics: dict | None  # `metrics.evaluate` on the test split with the best weights
    best_epoch: int | None
    resumed_from_epoch: int | None  # epochs already done in the checkpoint this run resumed from
    cancelled: bool
    artifact_dir: Path | None  # None when cancelled
    n_params: int
    stopped_early: bool = False
    device: str = "cpu"
    precision: str = "fp32"
    val_metrics: dict | None = None  # `metrics.evaluate` on the validation split, best weights
    seconds: float = 0.0
    averaged_epochs: list[int] | None = None  # epochs whose weights were averaged (average_top > 1)

    def to_dict(self) -> dict:
        """The fields as a plain dict (`dataclasses.asdict`), `artifact_dir` as a str or None."""
        out = asdict(self)
        out["artifact_dir"] = str(self.artifact_dir) if self.artifact_dir else None
        return out


class GpuOutOfMemory(RuntimeError):
    """CUDA ran out of memory; the run can be retried with a smaller batch.

    `batch_size`: the batch size that failed; `message`: the text shown to the user.
    """

    def __init__(self, batch_size: int, message: str | None = None):
        self.batch_size = batch_size
        self.message = message or f"GPU memory exhausted at batch size {batch_size}; lower the batch size"
        super().__init__(self.message)


def resolve_device(device: str) -> str:
    """'auto' -> 'cuda' when a GPU is visible, else 'cpu'; an explicit 'cuda' must exist.

    Returns 'cpu', 'cuda' or the given 'cuda:N' (the index itself is not checked). Raises
    ValueError for a string other than 'auto', 'cpu', 'cuda' or 'cuda:N', or a CUDA device
    without a visible GPU.
    """
    import torch

    check_device_and_precision(device, "fp32")
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} requested but no CUDA GPU is available")
    return device


def train(
    *,
    family: str,
    hparams: dict,
    train: Dataset,
    val: Dataset,
    test: Dataset,
    labels: list[str],
    workdir: Path,
    device: str = "auto",
    precision: str = "fp32",
    on_progress: Callable[[Progress], bool] | None = None,
    backbone_dir: Path | None = None,
    resume: bool = True,
) -> TrainResult:
    """Train one model of `family` and export it to `workdir/model`.

    1. Validate the hyper-parameters against the family (ValueError on bad values/combinations).
    2. Preprocess every clip once (`audio.preprocess`: silence trim, centre crop).
    3. Torch families: epochs of bucketed, augmented (and, with `mixup`, mixed) batches;
       validation UA/WA/macro-F1 and loss after each epoch; best weights (and the `average_top`
       best) and a full checkpoint saved; early stopping on validation UA. The classical family
       fits its scikit-learn pipeline once.
    4. Reload the best weights (or their average over the best epochs, when it validates at least
       as well), evaluate on `test`, export, return a `TrainResult`.

    `on_progress` returning True cancels: the run stops at that step, keeps `best.pt` and the last
    epoch's checkpoint, and returns with `cancelled=True` (no test evaluation, no export). An
    exception raised by `on_progress` propagates (the checkpoint of the last epoch stays).

    Arguments: `family` a name of `families.FAMILIES`; `hparams` that family's hyper-parameters
    (missing ones take defaults); `train` / `val` / `test` `Dataset`s whose labels index
    `labels` (at least two unique names; val and test may be empty); `workdir` a directory for
    checkpoints and the export (created); `device` 'auto', 'cpu', 'cuda' or 'cuda:N';
    `precision` 'fp32', 'bf16' or 'fp16' (torch families: 'auto' is resolved first, and the
    family's `gpu_defaults` apply on CUDA); `backbone_dir` a local pretrained encoder directory,
    for the transformer family only; `resume=False` discards a checkpoint in `workdir` (the
    classical family never resumes).

    Raises ValueError on an unknown family, bad hyper-parameters, device or precision (mixed
    precision on the CPU included), labels or splits (an empty or single-class training split),
    a checkpoint of another run, or a missing/unfit backbone; `GpuOutOfMemory` when CUDA runs
    out of memory.
    """
    fam = get_family(family)
    if isinstance(fam, TorchFamily):
        # Resolved first: the family's defaults depend on the device (its GPU set on CUDA).
        check_device_and_precision(device, precision)
        device = resolve_device(device)
    hp = fam.validate(hparams, device=device, precision=precision)
    labels = list(labels)
    _check_splits(train, val, test, labels)
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    if not isinstance(fam, TorchFamily):
        return _train_classical(fam, hp, train, val, test, labels, workdir, on_progress)
    check_device_and_precision("cpu" if device == "cpu" else "cuda", precision)
    return _train_torch(
        fam, hp, train, val, test, labels, workdir, device, precision, on_progress, backbone_dir, resume
    )


def _check_splits(train: Dataset, val: Dataset, test: Dataset, labels: list[str]) -> None:
    if len(labels) < 2:
        raise ValueError(f"need at least two labels, got {labels!r}")
    if len(set(labels)) != len(labels):
        raise ValueError(f"labels must be unique, got {labels!r}")
    if len(train) == 0:
        raise ValueError("the training split is empty")
    for name, ds in (("train", train), ("val", val), ("test", test)):
        if len(ds) and (ds.labels.min() < 0 or ds.labels.max() >= len(labels)):
            raise ValueError(f"{name} labels must be indices into labels (0..{len(labels) - 1})")
    if len(np.unique(train.labels)) < 2:
        raise ValueError("the training split holds a single class: nothing to learn")


def _fingerprint(family: str, hp: dict, labels: list[str], train: Dataset, val: Dataset) -> str:
    payload = {
        "family": family,
        "hparams": {k: v for k, v in hp.items() if k not in _OPERATIONAL},
        "labels": labels,
        "train": [int(i) for i in train.ids],
        "val": [int(i) for i in val.ids],
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def _report(on_progress, **kw) -> bool:
    return bool(on_progress is not None and on_progress(Progress(**kw)))


# --------------------------------------------------------------------------------------------
# scikit-learn


def _train_classical(fam, hp, train, val, test, labels, workdir, on_progress) -> TrainResult:
    from sklearn.metrics import log_loss

    t0 = time.perf_counter()
    C = len(labels)
    pre = fam.preprocessing(hp)
    if hp["classifier"] == "knn" and hp["n_neighbors"] > len(train):
        raise ValueError(f"n_neighbors={hp['n_neighbors']} exceeds the {len(train)} training clips")

    def features(ds: Dataset) -> np.ndarray:
        waves = preprocess_all(ds.samples, trim_db=pre["trim_db"], max_s=pre["max_s"])
        return fam.features(waves, pre, hp["n_jobs"])

    history: list[dict] = []
    x_train = features(train)
    if _report(on_progress, epoch=1, step=1, total_steps=3, history=[]):
        return _cancelled_result(fam, hp, history, None, 0, t0)
    t_fit = time.perf_counter()
    model = fam.fit_model(x_train, train.labels, train.voices, hp)
    fit_s = time.perf_counter() - t_fit
    entry: dict[str, Any] = {
        "epoch": 1,
        "train_loss": float(
            log_loss(train.labels, model.predict_proba(x_train, train.voices, C), labels=range(C))
        ),
        "fit_seconds": fit_s,
        "speaker_normalised": {
            "train": model.normalised_share(train.voices, len(train)),
            "val": model.normalised_share(val.voices, len(val)),
            "test": model.normalised_share(test.voices, len(test)),
        },
    }
    val_metrics = None
    if len(val):
        proba = model.predict_proba(features(val), val.voices, C)
        val_metrics = evaluate(val.labels, proba.argmax(1), labels)
        entry.update(_val_entry(val_metrics, float(log_loss(val.labels, proba, labels=range(C)))))
    entry["seconds"] = time.perf_counter() - t0
    history.append(entry)
    n_params = sum(_sk_n_params(p) for p in model.pipelines)
    if _report(on_progress, epoch=1, step=2, total_steps=3, history=list(history), epoch_done=True):
        return _cancelled_result(fam, hp, history, 1, n_params, t0)
    test_metrics = None
    if len(test):
        test_metrics = evaluate(
            test.labels, model.predict_proba(features(test), test.voices, C).argmax(1), labels
        )
    artifact = export(
        family=fam.name,
        model=model,
        hparams=hp,
        labels=labels,
        out_dir=workdir / ARTIFACT,
        preprocessing=pre,
        metrics={"test": test_metrics, "val": val_metrics, "history": history},
    )
    _report(on_progress, epoch=1, step=3, total_steps=3, history=list(history), epoch_done=True)
    return TrainResult(
        family=fam.name,
        hparams=hp,
        history=history,
        test_metrics=test_metrics,
        best_epoch=1,
        resumed_from_epoch=None,
        cancelled=False,
        artifact_dir=artifact,
        n_params=n_params,
        val_metrics=val_metrics,
        seconds=time.perf_counter() - t0,
    )


def _sk_n_params(pipeline) -> int:
    """Numbers the fitted pipeline stores (support vectors, coefficients, scaler statistics...)."""
    total = 0
    for _, step in pipeline.steps:
        for name, value in vars(step).items():
            if name.endswith("_") and isinstance(value, np.ndarray) and value.dtype.kind == "f":
                total += value.size
            elif name == "coefs_" or name == "intercepts_":  # MLPClassifier keeps lists of arrays
                total += sum(a.size for a in value)
    return int(total)


def _val_entry(m: dict, loss: float) -> dict:
    return {"val_loss": loss, "val_ua": m["ua"], "val_wa": m["wa"], "val_macro_f1": m["macro_f1"]}


def _cancelled_result(fam, hp, history, best_epoch, n_params, t0, **kw) -> TrainResult:
    return TrainResult(
        family=fam.name,
        hparams=hp,
        history=history,
        test_metrics=None,
        best_epoch=best_epoch,
        resumed_from_epoch=kw.pop("resumed_from_epoch", None),
        cancelled=True,
        artifact_dir=None,
        n_params=n_params,
        seconds=time.perf_counter() - t0,
        **kw,
    )


# --------------------------------------------------------------------------------------------
# torch


def _seed_everything(seed: int) -> None:
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _rng_state() -> dict:
    import torch

    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict) -> None:
    import torch

    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _atomic_save(obj: Any, path: Path) -> None:
    import torch

    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)  # a worker killed mid-write leaves the previous checkpoint intact


def _class_weights(y: np.ndarray, n_classes: int):
    import torch

    counts = np.bincount(y, minlength=n_classes).astype(np.float64)
    present = counts > 0
    weights = np.zeros(n_classes)
    weights[present] = counts.sum() / (present.sum() * counts[present])
    return torch.tensor(weights, dtype=torch.float32)


class _Loaders:
    """DataLoaders of one run: the bucketed, augmented training loader and the evaluation ones."""

    def __init__(self, fam, hp, pre, model, device, waves: dict, ys: dict):
        import torch
        from torch.utils.data import DataLoader

        from .data import BucketBatchSampler, ClipDataset, make_waveform_augmenter

        on_cuda = device.startswith("cuda")
        workers = hp["num_workers"]
        if workers is None:  # CPU: workers would compete with the training threads for the cores
            workers = min(8, max(0, (os.cpu_count() or 1) - 2)) if on_cuda else 0
        self.workers = workers
        common = {"pin_memory": on_cuda}
        train_ds = ClipDataset(
            waves["train"],
            ys["train"],
            fam.featurizer(hp, pre, train=True),
            augment=make_waveform_augmenter(hp),
            train=True,
        )
        self.sampler = BucketBatchSampler(train_ds.lengths, hp["batch_size"], shuffle=True, seed=hp["seed"])
        self.train = DataLoader(
            train_ds,
            batch_sampler=self.sampler,
            collate_fn=fam.collate(hp, pre, train=True, model=model),
            num_workers=workers,
            persistent_workers=workers > 0,
            generator=torch.Generator().manual_seed(hp["seed"]),
            **common,
        )
        self.eval: dict[str, tuple] = {}
        for split in ("val", "test"):
            ds = ClipDataset(waves[split], ys[split], fam.featurizer(hp, pre, train=False))
            sampler = BucketBatchSampler(ds.lengths, hp["batch_size"], shuffle=False)
            loader = DataLoader(
                ds, batch_sampler=sampler, collate_fn=fam.collate(hp, pre, train=False, model=model), **common
            )
            self.eval[split] = (loader, sampler)


def _to_device(batch: dict, device) -> dict:
    return {k: v.to(device, non_blocking=True) for k, v in batch.items()}


def _predict_logits(fam, model, loader, sampler, device, amp) -> np.ndarray:
    """Logits in the dataset's order (the evaluation sampler batches by length)."""
    import torch

    order = [i for b in sampler.batches() for i in b]
    outs = []
    model.eval()
    with torch.no_grad(), amp():
        for batch in loader:
            batch = _to_device(batch, device)
            batch.pop("labels")
            outs.append(fam.logits(model, batch).float().cpu())
    logits = torch.cat(outs).numpy() if outs else np.zeros((0, 0), dtype=np.float32)
    result = np.empty_like(logits)
    result[order] = logits
    return result


def _ce(logits: np.ndarray, y: np.ndarray) -> float:
    z = logits - logits.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return float(-logp[np.arange(len(y)), y].mean())


def _train_torch(
    fam, hp, train, val, test, labels, workdir, device, precision, on_progress, backbone_dir, resume
):
    import contextlib

    import torch

    t0 = time.perf_counter()
    _seed_everything(hp["seed"])
    dev = torch.device(device)
    C = len(labels)
    waves = {
        name: preprocess_all(ds.samples, trim_db=hp["trim_db"], max_s=hp["max_clip_s"])
        for name, ds in (("train", train), ("val", val), ("test", test))
    }
    ys = {"train": train.labels, "val": val.labels, "test": test.labels}
    model, pre = fam.build_model(hp, labels, train_waves=waves["train"], backbone_dir=backbone_dir)
    model.to(dev)
    n_params = int(sum(p.numel() for p in model.parameters()))
    loaders = _Loaders(fam, hp, pre, model, device, waves, ys)

    optimizer = torch.optim.AdamW(fam.param_groups(model, hp), weight_decay=hp["weight_decay"])
    steps_per_epoch = len(loaders.sampler)
    total_steps = steps_per_epoch * hp["epochs"]
    warmup = int(hp["warmup_ratio"] * total_steps)

    cosine = hp.get("lr_schedule") == "cosine"

    def lr_factor(step: int) -> float:  # linear warm-up, then linear or cosine decay to 0
        if step < warmup:
            return (step + 1) / (warmup + 1)
        left = max(0.0, (total_steps - step) / max(1, total_steps - warmup))  # 1 -> 0
        return 0.5 * (1.0 - math.cos(math.pi * left)) if cosine else left

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_factor)
    scaler = torch.amp.GradScaler("cuda", enabled=precision == "fp16")
    amp_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)

    def amp():
        if amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=dev.type, dtype=amp_dtype)

    weights = _class_weights(train.labels, C).to(dev) if hp["balanced_loss"] else None
    mixup = float(hp.get("mixup", 0.0))
    # At most a quarter of the schedule is averaged: the mean of a short run's early, under-trained
    # epochs is worse than its best one (test_ml: 5 epochs, all averaged, test UA 0.59 < its 0.75 floor).
    top_n = min(int(hp.get("average_top", 1)), max(1, hp["epochs"] // 4))
    params = [p for g in optimizer.param_groups for p in g["params"]]

    ckpt_path, best_path = workdir / CHECKPOINT, workdir / BEST
    fingerprint = _fingerprint(fam.name, hp, labels, train, val)
    state: dict[str, Any] = {
        "epoch": 0,
        "step": 0,
        "history": [],
        "best_metric": None,
        "best_epoch": None,
        "bad_epochs": 0,
        "finished": False,
        "stopped_early": False,
        "top": [],  # [score, epoch] of the `average_top` best epochs, best first (average_top > 1)
    }
    resumed_from = None
    if resume and ckpt_path.exists():
        ck = torch.load(ckpt_path, map_location="cpu", weights_only=False)
        if ck.get("fingerprint") != fingerprint:
            raise ValueError(
                f"{ckpt_path} belongs to another run (family, hyper-parameters, labels or clips differ): "
                "use a fresh workdir or resume=False"
            )
        model.load_state_dict(ck["model"])
        optimizer.load_state_dict(ck["optimizer"])
        scheduler.load_state_dict(ck["scheduler"])
        scaler.load_state_dict(ck["scaler"])
        state = ck["state"]
        _set_rng_state(ck["rng"])
        resumed_from = state["epoch"]
        logger.info("resuming %s from epoch %d (step %d)", fam.name, state["epoch"], state["step"])
    else:
        for stale in (ckpt_path, best_path, *workdir.glob("top-*.pt")):
            stale.unlink(missing_ok=True)

    history: list[dict] = state["history"]
    cancelled = False
    batch_size = hp["batch_size"]
    try:
        for epoch in range(state["epoch"], hp["epochs"]):
            if state["finished"]:
                break
            t_epoch = time.perf_counter()
            loaders.sampler.set_epoch(epoch)
            fam.set_train_mode(model, hp)
            running = torch.zeros((), device=dev)
            n_batches = 0
            for batch in loaders.train:
                batch = _to_device(batch, dev)
                y = batch.pop("labels")
                if mixup > 0:
                    # Mixup: one Beta(a, a) weight per batch, pairs by a random permutation.
                    lam = float(np.random.beta(mixup, mixup))
                    perm = torch.randperm(len(y), device=dev)
                    batch = fam.mix(batch, perm, lam)
                with amp():
                    logits = fam.logits(model, batch)
                loss = torch.nn.functional.cross_entropy(logits.float(), y, weight=weights)
                if mixup > 0:
                    loss = lam * loss + (1.0 - lam) * torch.nn.functional.cross_entropy(
                        logits.float(), y[perm], weight=weights
                    )
                optimizer.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                if hp["grad_clip"] is not None:
                    scaler.unscale_(optimizer)
                    torch.nn.utils.clip_grad_norm_(params, hp["grad_clip"])
                scaler.step(optimizer)
                scaler.update()
                scheduler.step()
                # Accumulate on the device: a .item() per step would synchronise CUDA every step.
                running += loss.detach()
                n_batches += 1
                state["step"] += 1
                if state["step"] % hp["progress_every"] == 0 and _report(
                    on_progress,
                    epoch=epoch + 1,
                    step=state["step"],
                    total_steps=total_steps,
                    history=list(history),
                    train_loss=running.item() / n_batches,
                ):
                    cancelled = True
                    break
            if cancelled:
                break
            entry: dict[str, Any] = {"epoch": epoch + 1, "train_loss": running.item() / max(n_batches, 1)}
            score = -entry["train_loss"]  # without a validation split, the last epoch is the best
            if len(val):
                val_logits = _predict_logits(fam, model, *loaders.eval["val"], dev, amp)
                val_m = evaluate(val.labels, val_logits.argmax(1), labels)
                entry.update(_val_entry(val_m, _ce(val_logits, val.labels)))
                score = (val_m["ua"], -entry["val_loss"])
            entry["lr"] = [g["lr"] for g in optimizer.param_groups]
            entry["seconds"] = time.perf_counter() - t_epoch
            history.append(entry)
            state["epoch"] = epoch + 1
            if state["best_metric"] is None or score > _as_score(state["best_metric"]) or not len(val):
                state.update(best_metric=score, best_epoch=epoch + 1, bad_epochs=0)
                _atomic_save(
                    {"model": model.state_dict(), "epoch": epoch + 1, "fingerprint": fingerprint}, best_path
                )
            else:
                state["bad_epochs"] += 1
                if hp["patience"] is not None and state["bad_epochs"] >= hp["patience"]:
                    state.update(finished=True, stopped_early=True)
            if top_n > 1:
                last = hp.get("average_of") == "last"
                _keep_top(state, epoch + 1 if last else score, epoch + 1, top_n, model, workdir)
            if state["epoch"] == hp["epochs"]:
                state["finished"] = True
            logger.info("%s epoch %d: %s", fam.name, epoch + 1, {k: v for k, v in entry.items() if k != "lr"})
            _atomic_save(
                {
                    "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(),
                    "scaler": scaler.state_dict(),
                    "state": state,
                    "rng": _rng_state(),
                    "fingerprint": fingerprint,
                    "family": fam.name,
                    "hparams": hp,
                    "labels": labels,
                },
                ckpt_path,
            )
            if _report(
                on_progress,
                epoch=epoch + 1,
                step=state["step"],
                total_steps=total_steps,
                history=list(history),
                train_loss=entry["train_loss"],
                epoch_done=True,
            ):
                cancelled = True
                break
    except torch.OutOfMemoryError as exc:
        raise _oom(batch_size) from exc

    if cancelled:
        return _cancelled_result(
            fam,
            hp,
            history,
            state["best_epoch"],
            n_params,
            t0,
            resumed_from_epoch=resumed_from,
            device=device,
            precision=precision,
        )

    if best_path.exists():
        model.load_state_dict(torch.load(best_path, map_location=dev, weights_only=True)["model"])
    averaged = None
    try:
        if top_n > 1 and len(state["top"]) > 1:
            averaged = _average_top(
                fam,
                model,
                state,
                workdir,
                val,
                labels,
                loaders,
                dev,
                amp,
                always=hp.get("average_of") == "last",
            )
        val_metrics = test_metrics = None
        if len(val):
            val_metrics = evaluate(
                val.labels, _predict_logits(fam, model, *loaders.eval["val"], dev, amp).argmax(1), labels
            )
        if len(test):
            test_logits = _predict_logits(fam, model, *loaders.eval["test"], dev, amp)
            test_metrics = evaluate(test.labels, test_logits.argmax(1), labels)
    except torch.OutOfMemoryError as exc:
        raise _oom(batch_size) from exc
    artifact = export(
        family=fam.name,
        model=model,
        hparams=hp,
        labels=labels,
        out_dir=workdir / ARTIFACT,
        preprocessing=pre,
        metrics={
            "test": test_metrics,
            "val": val_metrics,
            "history": history,
            "best_epoch": state["best_epoch"],
        },
    )
    return TrainResult(
        family=fam.name,
        hparams=hp,
        history=history,
        test_metrics=test_metrics,
        best_epoch=state["best_epoch"],
        resumed_from_epoch=resumed_from,
        cancelled=False,
        artifact_dir=artifact,
        n_params=n_params,
        stopped_early=state["stopped_early"],
        device=device,
        precision=precision,
        val_metrics=val_metrics,
        seconds=time.perf_counter() - t0,
        averaged_epochs=averaged,
    )


def _keep_top(state: dict, score, epoch: int, n: int, model, workdir: Path) -> None:
    """Keep the weights of the `n` best epochs so far as workdir/top-<epoch>.pt, their (score,
    epoch) in `state["top"]`, best first; a worse epoch than all `n` leaves everything as is.
    `score` is the epoch number itself to keep the last `n`."""
    top = [(_as_score(s), e) for s, e in state["top"]]
    if len(top) >= n and score <= top[-1][0]:
        return
    _atomic_save({"model": model.state_dict(), "epoch": epoch}, workdir / f"top-{epoch}.pt")
    top = sorted([*top, (score, epoch)], key=lambda t: t[0], reverse=True)
    for _, dropped in top[n:]:
        (workdir / f"top-{dropped}.pt").unlink(missing_ok=True)
    state["top"] = [[s, e] for s, e in top[:n]]


def _average_top(
    fam, model, state, workdir, val, labels, loaders, dev, amp, always: bool
) -> list[int] | None:
    """Load the mean of the kept epochs' weights into `model` (floating tensors averaged,
    integer buffers such as batch norm's step count from the loaded model) when it scores at
    least the best epoch's validation UA, or `always` (and without a validation split);
    otherwise leave the best epoch's weights. Returns the averaged epochs (sorted) or None."""
    import torch

    epochs = [e for _, e in state["top"]]
    states = [
        torch.load(workdir / f"top-{e}.pt", map_location=dev, weights_only=True)["model"] for e in epochs
    ]
    best = {k: v.clone() for k, v in model.state_dict().items()}
    mean = {
        k: torch.stack([s[k] for s in states]).mean(dim=0) if v.is_floating_point() else v
        for k, v in best.items()
    }
    if always or not len(val):
        model.load_state_dict(mean)
        return sorted(epochs)
    loader, sampler = loaders.eval["val"]
    best_ua = evaluate(val.labels, _predict_logits(fam, model, loader, sampler, dev, amp).argmax(1), labels)[
        "ua"
    ]
    model.load_state_dict(mean)
    mean_ua = evaluate(val.labels, _predict_logits(fam, model, loader, sampler, dev, amp).argmax(1), labels)[
        "ua"
    ]
    if mean_ua >= best_ua:
        return sorted(epochs)
    model.load_state_dict(best)
    return None


def _as_score(value) -> tuple | float:
    # torch.load returns the tuple saved by torch.save; JSON-like lists are accepted too.
    return tuple(value) if isinstance(value, list) else value


def _oom(batch_size: int) -> GpuOutOfMemory:
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    return GpuOutOfMemory(batch_size=batch_size)


# --------------------------------------------------------------------------------------------
# export


def export(
    *,
    family: str,
    model,
    hparams: dict,
    labels: list[str],
    out_dir: Path,
    preprocessing: dict | None = None,
    metrics: dict | None = None,
) -> Path:
    """Write a model directory that `predict.load_predictor` (and, for the transformer family,
    `transformers.pipeline(..., trust_remote_code=True)`) loads; replaces `out_dir` if present.

    - transformer: config.json (TuniserConfig: encoder config, head, id2label/label2id, family,
      hparams, preprocessing; auto_map), modeling_tuniser.py + audio.py + nets.py,
      model.safetensors, preprocessor_config.json.
    - mfcc_lstm / logmel_cnn: model.safetensors + config.json (family, hparams, labels, label maps,
      preprocessing: sample rate, trim_db, max_s, feature settings; model_args).
    - classical: model.joblib (a pickled `speaker_norm.VoiceNormalisedModel` of scikit-learn
      Pipelines: there is no safe tensor format for it) + config.json with the scikit-learn
      version it needs.
    - metrics.json (when `metrics` is given): test/val metrics and history, for the record.

    `model` is the trained torch module or the classical family's `VoiceNormalisedModel`;
    `preprocessing` defaults to the model config's, else the family's for `hparams`. The
    directory is written as `out_dir.tmp` then moved into place. Returns `out_dir`; ValueError
    for an unknown family.
    """
    fam = get_family(family)
    out_dir = Path(out_dir)
    if preprocessing is None:
        preprocessing = getattr(getattr(model, "config", None), "preprocessing", None) or fam.preprocessing(
            hparams
        )
    tmp = out_dir.with_name(out_dir.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    fam.export(model, hparams, list(labels), dict(preprocessing), tmp)
    if metrics is not None:
        (tmp / "metrics.json").write_text(json.dumps(metrics, indent=2, default=_json_default) + "\n")
    shutil.rmtree(out_dir, ignore_errors=True)
    os.replace(tmp, out_dir)
    return out_dir


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    raise TypeError(f"not JSON-serialisable: {type(value).__name__}")
