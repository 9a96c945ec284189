"""The platform's training loop against the bare model's step, and the classical family's fit time.

From the repository root:

    .venv/bin/python -m benchmarks.training --device cuda  # wav2vec2-base, 3 s clips, batch 64, bf16
    .venv/bin/python -m benchmarks.training --device cpu   # tiny encoder, batch 16, fp32, 1 thread

The second is the command of RESULTS.md. Other options: --small, --batch, --seconds (clip length,
default 3), --steps (40 on cuda, 20 on cpu), --warmup (10), --precision, --workers, --threads,
--skip-classical; `--help` describes them.

1. Encoder: a randomly initialised `Wav2Vec2Model(Wav2Vec2Config())` (wav2vec2-base size; on the
   CPU, or with --small, a tiny one), `save_pretrained` into a temporary directory and loaded from
   there as the transformer family's backbone, exactly as a downloaded one would be.
2. Platform: `engine.train` on synthetic 3 s clips (noise has the compute of speech) wrapped in the
   platform's `Dataset`: preprocessing, length bucketing, the DataLoader (worker processes,
   pinned memory, augmentation, the feature-extractor collate), autocast, loss, gradient
   clipping, AdamW and scheduler steps. Timed through `on_progress`, which the engine calls every
   `progress_every` steps after reading the running loss (a CUDA synchronisation), from the
   callback after the warm-up steps to the last one of the epoch.
3. Bare: the same model (same family builder, same hyper-parameters) on one batch already on the
   device: forward, cross-entropy, backward, AdamW step, under the same autocast; synchronised
   before and after the timed steps. Measured before and after the platform; the faster counts.
4. Classical family (CPU, scikit-learn): feature extraction and fit time on real RAVDESS clips
   (neutral / happy / sad / angry; train actors 1-16, validation 17-20, test 21-24). Skipped when
   the data is missing (e.g. on a GPU machine without ../shared/data).

Prints a table (figures meant for scripts, such as `classical_train_s`, as `name=value` lines)
and, last, the one line `training_ratio=<platform samples/s / bare samples/s>`, three decimals
(`training_ratio=1.115` in RESULTS.md, on the CPU, where run-to-run noise dominates; 1.000 = the
platform as fast as the bare step).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("TUNISER_DATA_DIR", REPO.parent / "shared" / "data"))
RATE = 16000
LABELS = ["angry", "happy", "neutral", "sad"]


def tiny_config():
    from transformers import Wav2Vec2Config

    return Wav2Vec2Config(
        hidden_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=128,
        conv_dim=(64, 64, 64),
        conv_kernel=(10, 3, 3),
        conv_stride=(5, 4, 4),
        num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=4,
    )


def save_backbone(small: bool, out_dir: Path) -> Path:
    import torch
    from transformers import Wav2Vec2Config, Wav2Vec2Model

    torch.manual_seed(0)
    config = tiny_config() if small else Wav2Vec2Config()  # defaults = wav2vec2-base
    Wav2Vec2Model(config).save_pretrained(out_dir)
    return out_dir


def synthetic(n: int, seconds: float, n_classes: int, seed: int):
    from training.ml.engine import Dataset

    rng = np.random.default_rng(seed)
    samples = [(0.1 * rng.standard_normal(int(seconds * RATE))).astype(np.float32) for _ in range(n)]
    return Dataset(samples, rng.integers(0, n_classes, n), list(range(n)))


def bench_platform(args, backbone: Path, hp: dict, workdir: Path) -> dict:
    from training.ml import engine

    marks: list[tuple[int, float]] = []

    def on_progress(p: engine.Progress) -> bool:
        if not p.epoch_done:
            marks.append((p.step, time.perf_counter()))
        return False

    n = args.steps * args.batch
    result = engine.train(
        family="transformer",
        hparams=hp,
        train=synthetic(n, args.seconds, len(LABELS), 1),
        val=synthetic(args.batch, args.seconds, len(LABELS), 2),
        test=synthetic(args.batch, args.seconds, len(LABELS), 3),
        labels=LABELS,
        workdir=workdir,
        device=args.device,
        precision=args.precision,
        on_progress=on_progress,
        backbone_dir=backbone,
        resume=False,
    )
    start = next(i for i, (step, _) in enumerate(marks) if step >= args.warmup)
    (s0, t0), (s1, t1) = marks[start], marks[-1]
    return {
        "samples_per_s": (s1 - s0) * args.batch / (t1 - t0),
        "step_ms": 1000 * (t1 - t0) / (s1 - s0),
        "steps_timed": s1 - s0,
        "epoch_s": result.history[0]["seconds"],
        "n_params": result.n_params,
    }


def bench_bare(args, backbone: Path, hp: dict) -> dict:
    import torch

    from training.ml.families import get_family

    fam = get_family("transformer")
    hp = fam.validate(hp, device=args.device, precision=args.precision)
    dev = torch.device(args.device)
    model, _ = fam.build_model(hp, LABELS, train_waves=[], backbone_dir=backbone)
    model.to(dev)
    fam.set_train_mode(model, hp)
    optimizer = torch.optim.AdamW(fam.param_groups(model, hp), weight_decay=hp["weight_decay"])
    n = int(args.seconds * RATE)
    x = torch.randn(args.batch, n, device=dev)
    mask = torch.ones(args.batch, n, dtype=torch.long, device=dev)
    y = torch.randint(0, len(LABELS), (args.batch,), device=dev)
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(args.precision)
    amp = (lambda: torch.autocast(device_type=dev.type, dtype=dtype)) if dtype else contextlib.nullcontext

    def sync():
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)

    def step():
        with amp():
            logits = model(input_values=x, attention_mask=mask).logits
        loss = torch.nn.functional.cross_entropy(logits.float(), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    for _ in range(args.warmup):
        step()
    sync()
    steps = args.steps - args.warmup
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    sync()
    elapsed = time.perf_counter() - t0
    return {
        "samples_per_s": steps * args.batch / elapsed,
        "step_ms": 1000 * elapsed / steps,
        "steps_timed": steps,
    }


def bench_classical() -> dict | None:
    from training.ml import audio, engine
    from training.ml.engine import Dataset

    files = sorted((DATA / "ravdess").glob("*.flac"))
    if not files:
        return None
    emotions = {"05": 0, "03": 1, "01": 2, "04": 3}  # angry, happy, neutral, sad
    splits = {"train": ([], [], []), "val": ([], [], []), "test": ([], [], [])}
    t0 = time.perf_counter()
    for path in files:
        code = path.stem.split("-")
        if code[2] not in emotions:
            continue
        actor = int(code[6])
        split = "train" if actor <= 16 else "val" if actor <= 20 else "test"
        samples, labels, ids = splits[split]
        samples.append(audio.load_audio(path))
        labels.append(emotions[code[2]])
        ids.append(int("".join(code)))
    decode_s = time.perf_counter() - t0
    data = {k: Dataset(s, np.array(y), i) for k, (s, y, i) in splits.items()}
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        result = engine.train(
            family="classical",
            hparams={},
            train=data["train"],
            val=data["val"],
            test=data["test"],
            labels=LABELS,
            workdir=Path(tmp),
            device="cpu",
        )
        total_s = time.perf_counter() - t0
    return {
        "clips": {k: len(v) for k, v in data.items()},
        "decode_s": decode_s,
        "train_s": total_s,
        "fit_s": result.history[0]["fit_seconds"],
        "ua": result.test_metrics["ua"],
        "wa": result.test_metrics["wa"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda", help="cuda (the real benchmark) or cpu")
    parser.add_argument("--small", action="store_true", help="tiny encoder (implied on the CPU)")
    parser.add_argument("--batch", type=int, default=None, help="clips per batch (64 on cuda, 16 on cpu)")
    parser.add_argument("--seconds", type=float, default=3.0, help="clip length")
    parser.add_argument(
        "--steps", type=int, default=None, help="training steps per measurement (40 cuda, 20 cpu)"
    )
    parser.add_argument("--warmup", type=int, default=10, help="untimed first steps")
    parser.add_argument("--precision", default=None, help="bf16 on cuda, fp32 on cpu")
    parser.add_argument("--workers", type=int, default=None, help="DataLoader workers (8 on cuda, 0 on cpu)")
    parser.add_argument(
        "--threads", type=int, default=None, help="torch CPU threads (cpu: 1, steadier on shared cores)"
    )
    parser.add_argument("--skip-classical", action="store_true")
    args = parser.parse_args()

    import torch

    cuda = args.device.startswith("cuda")
    if cuda and not torch.cuda.is_available():
        raise SystemExit("--device cuda: no CUDA GPU visible (use --device cpu here)")
    args.small = args.small or not cuda
    args.batch = args.batch or (64 if cuda else 16)
    args.steps = args.steps or (40 if cuda else 20)
    args.warmup = min(args.warmup, args.steps // 2)
    args.precision = args.precision or ("bf16" if cuda else "fp32")
    workers = args.workers if args.workers is not None else (8 if cuda else 0)
    if args.threads or not cuda:
        torch.set_num_threads(args.threads or 1)
    if cuda:
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True

    # The platform's defaults for the family, the run's batch and workers; one epoch, a callback
    # every 5 steps, no early stopping. Clips are exactly --seconds long: nothing to crop.
    hp = {
        "batch_size": args.batch,
        "epochs": 1,
        "num_workers": workers,
        "progress_every": 5,
        "max_clip_s": args.seconds,
        "patience": None,
    }
    rows: list[tuple[str, str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        backbone = save_backbone(args.small, Path(tmp) / "backbone")
        if cuda:
            torch.cuda.reset_peak_memory_stats()
        bare_before = bench_bare(args, backbone, hp)
        if cuda:
            rows.append(("bare peak GPU memory", f"{torch.cuda.max_memory_allocated() / 2**30:.1f} GiB"))
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
        platform = bench_platform(args, backbone, hp, Path(tmp) / "run")
        if cuda:
            rows.append(("platform peak GPU memory", f"{torch.cuda.max_memory_allocated() / 2**30:.1f} GiB"))
            torch.cuda.empty_cache()
        # Bare again after the platform, and the faster of the two: neither warm-up order nor a
        # passing load on the machine can flatter the platform.
        bare_after = bench_bare(args, backbone, hp)
    bare = max(bare_before, bare_after, key=lambda r: r["samples_per_s"])
    ratio = platform["samples_per_s"] / bare["samples_per_s"]
    device_name = torch.cuda.get_device_name() if cuda else f"cpu ({torch.get_num_threads()} threads)"
    rows = [
        ("device", device_name),
        (
            "encoder",
            f"{'tiny' if args.small else 'wav2vec2-base'} wav2vec2, "
            f"{platform['n_params'] / 1e6:.1f} M params",
        ),
        ("batch", f"{args.batch} x {args.seconds:g} s, {args.precision}, {workers} workers"),
        (
            "bare step",
            f"{bare['step_ms']:.1f} ms ({bare['samples_per_s']:.1f} samples/s, {bare['steps_timed']} steps; "
            f"best of {bare_before['step_ms']:.1f} before / {bare_after['step_ms']:.1f} ms after)",
        ),
        (
            "platform step",
            f"{platform['step_ms']:.1f} ms ({platform['samples_per_s']:.1f} samples/s, "
            f"{platform['steps_timed']} steps)",
        ),
        ("platform epoch", f"{platform['epoch_s']:.1f} s (incl. worker start-up and validation)"),
        *rows,
    ]
    if not args.skip_classical:
        classical = bench_classical()
        if classical is None:
            rows.append(("classical", f"skipped: no RAVDESS under {DATA}"))
        else:
            c = classical["clips"]
            rows += [
                (
                    "classical clips",
                    f"train {c['train']}, val {c['val']}, test {c['test']} (4 emotions, RAVDESS; "
                    "train_s = preprocess + features + fit + evaluation + export)",
                ),
                ("classical_decode_s", f"{classical['decode_s']:.2f}"),
                ("classical_train_s", f"{classical['train_s']:.2f}"),
                ("classical_fit_s", f"{classical['fit_s']:.3f}"),
                ("classical test UA / WA", f"{classical['ua']:.3f} / {classical['wa']:.3f}"),
            ]
    width = max(len(k) for k, _ in rows) + 1
    for key, value in rows:
        # snake_case keys are figures meant for scripts: printed as key=value.
        print(f"{key}={value}" if "_" in key and " " not in key else f"{key:<{width}} {value}")
    print(f"training_ratio={ratio:.3f}")


if __name__ == "__main__":
    main()
