"""Pre-labelling throughput (platform path vs bare model) and the live page's latency per chunk.

From the repository root:

    .venv/bin/python -m benchmarks.prelabel --device cuda                                # a GPU
    .venv/bin/python -m benchmarks.prelabel --device cpu --clips 300 --small --batch 32  # no GPU

The second is the command of RESULTS.md. Defaults: --device cuda --clips 20000 --batch 64 (clips
per inference batch); --small uses a tiny encoder. DATABASE_URL defaults to a scratch SQLite
file; RAVDESS comes from $TUNISER_DATA_DIR (default ../shared/data).

1. Scratch database and media; `--clips` clip files of 1-5 s cut from real RAVDESS speech.
2. A wav2vec2-base-sized model (randomly initialised: same compute) exported as a ModelVersion
   of the transformer family (`--small`: a tiny one, for CPU machines).
3. Platform: `inference.services.prelabel_clips` over every clip (files on disk -> batched,
   length-bucketed inference -> Prediction rows).
4. Bare: the same model's forward on the same clips already batched as tensors on the device.
5. Live latency: the inference API's path (`infer_upload`, mode=chunk) on 2 s chunks of real
   speech with the classical family (the model a deployment has on day one), median of 30.

Prints a table, then `live_chunk_median_ms=<median>` (step 5, ms, one decimal) and, last, the one
line `prelabel_ratio=<platform clips/s / bare clips/s>`, two decimals (`prelabel_ratio=0.85` in
RESULTS.md, on the CPU; 1.00 = the platform as fast as the bare model).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("TUNISER_DATA_DIR", REPO.parent / "shared" / "data"))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--clips", type=int, default=20000)
    parser.add_argument("--small", action="store_true", help="tiny transformer (CPU machines)")
    parser.add_argument("--batch", type=int, default=64)
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="tuniser-prelabel-"))
    os.environ.setdefault("DATABASE_URL", f"sqlite:///{scratch / 'bench.sqlite3'}")
    os.environ.update(
        DJANGO_SETTINGS_MODULE="tuniser.settings",
        MEDIA_ROOT=str(scratch / "media"),
        TUNISER_VAR_DIR=str(scratch),
        TUNISER_MODELS_DIR=str(scratch / "models"),
        LOG_LEVEL="WARNING",
    )
    import django

    django.setup()
    import soundfile as sf
    import torch
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.core.management import call_command
    from transformers import Wav2Vec2Config, Wav2Vec2Model

    from annotation.guideline import ensure_guideline
    from core.access import project_get_default
    from corpus import services as corpus_services
    from corpus.models import Clip, Recording
    from inference import services
    from inference.models import Prediction
    from releases.importers import label_mappings_ensure
    from releases.models import Release
    from training.ml import engine
    from training.models import ModelVersion, TrainingRun

    call_command("migrate", verbosity=0)
    ensure_guideline()
    label_mappings_ensure()
    project = project_get_default()
    rng = np.random.default_rng(0)
    files = sorted((DATA / "ravdess").glob("*.flac"))
    media = scratch / "media"
    (media / "clips" / "b").mkdir(parents=True)
    source = corpus_services.source_get_or_create(project=project, title="Bench")
    rec = Recording.objects.create(
        source=source,
        project=project,
        original="x",
        original_name="x",
        size_bytes=1,
        sha256="0" * 64,
        status="segmented",
    )
    rows, waves = [], []
    for i in range(args.clips):
        x, rate = sf.read(files[i % len(files)], dtype="float32")
        length = float(rng.uniform(1.0, 5.0))
        x = np.pad(x, (0, max(0, int(length * rate) - len(x))))[: int(length * rate)]
        name = f"clips/b/{i:06d}.wav"
        sf.write(media / name, x, rate, subtype="PCM_16")
        waves.append(x)
        rows.append(
            Clip(
                recording=rec,
                start_s=i * 6.0,
                end_s=i * 6.0 + length,
                duration_s=length,
                audio=name,
                level_dbfs=-20,
                speech_ratio=1,
                clipping_ratio=0,
                snr_db=30,
                status="accepted",
            )
        )
    Clip.objects.bulk_create(rows, batch_size=5000)
    clip_ids = list(Clip.objects.order_by("pk").values_list("pk", flat=True))

    # A ModelVersion of the transformer family over a randomly initialised backbone.
    config = (
        Wav2Vec2Config()
        if not args.small
        else Wav2Vec2Config(
            hidden_size=64,
            num_hidden_layers=2,
            num_attention_heads=2,
            intermediate_size=128,
            conv_dim=(64, 64, 64),
            conv_kernel=(10, 3, 3),
            conv_stride=(5, 2, 2),
            num_feat_extract_layers=3,
        )
    )
    backbone = scratch / "backbone"
    Wav2Vec2Model(config).save_pretrained(backbone)
    labels = ["happy", "sad", "angry", "neutral"]
    from training.ml.families import get_family

    fam = get_family("transformer")
    hp = fam.validate({"batch_size": args.batch}, device=args.device, precision="fp32")
    model, preprocessing = fam.build_model(hp, labels, train_waves=[], backbone_dir=backbone)
    art = scratch / "models" / "bench"
    engine.export(
        family="transformer", model=model, hparams=hp, labels=labels, out_dir=art, preprocessing=preprocessing
    )
    release = Release.objects.create(
        project=project,
        name="b",
        version=1,
        params={"label_set": labels},
        manifest="m",
        checksum="0",
        platform_version="x",
    )
    run = TrainingRun.objects.create(
        project=project, release=release, family="transformer", status="succeeded"
    )
    mv = ModelVersion.objects.create(
        project=project,
        run=run,
        release=release,
        family="transformer",
        name="bench",
        path="bench",
        labels=labels,
        platform_version="x",
    )
    predictor = services.predictor_for(mv)  # load once, as a worker does
    device = predictor.device

    # Platform path (warm-up on a few clips first: CUDA kernels, allocator).
    services.prelabel_clips(model_version=mv, clip_ids=clip_ids[:64])
    Prediction.objects.all().delete()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    t = time.perf_counter()
    services.prelabel_clips(model_version=mv, clip_ids=clip_ids)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    platform_s = time.perf_counter() - t
    assert Prediction.objects.filter(model_version=mv).count() == len(clip_ids)

    # Bare: the model's forward on already-batched tensors on the device (same clips, same order
    # by length as the platform's bucketing, same batch size, same precision rule).
    net = predictor.model.eval()
    # The same clips the model sees on the platform path: trimmed and cropped as at training
    # (preprocessing outside the timed loop: the bare path measures the model alone).
    from training.ml.dataset import preprocess_all

    pre = predictor.preprocessing
    waves = preprocess_all(waves, trim_db=pre["trim_db"], max_s=pre["max_s"])
    order = np.argsort([len(w) for w in waves], kind="stable")
    batches = []
    for s in range(0, len(order), args.batch):
        idx = order[s : s + args.batch]
        longest = max(len(waves[i]) for i in idx)
        x = torch.zeros(len(idx), longest)
        mask = torch.zeros(len(idx), longest, dtype=torch.long)
        for k, i in enumerate(idx):
            x[k, : len(waves[i])] = torch.from_numpy(waves[i])
            mask[k, : len(waves[i])] = 1
        batches.append((x.to(device), mask.to(device)))
    amp = (
        torch.autocast("cuda", dtype=torch.bfloat16)
        if device.startswith("cuda")
        else torch.autocast("cpu", enabled=False)
    )
    with torch.no_grad(), amp:
        net(input_values=batches[0][0], attention_mask=batches[0][1])
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        t = time.perf_counter()
        for x, mask in batches:
            net(input_values=x, attention_mask=mask)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        bare_s = time.perf_counter() - t

    # Live latency: 2 s chunks through the inference API's path with a classical model.
    from training.ml.engine import Dataset

    train = Dataset(samples=[w for w in waves[:120]], labels=np.arange(120) % 2, ids=list(range(120)))
    res = engine.train(
        family="classical",
        hparams={},
        train=train,
        val=train,
        test=train,
        labels=["angry", "neutral"],
        workdir=scratch / "live-run",
        device="cpu",
    )
    live_dir = scratch / "models" / "live"
    import shutil

    shutil.copytree(res.artifact_dir, live_dir)
    run2 = TrainingRun.objects.create(
        project=project, release=release, family="classical", status="succeeded"
    )
    live_mv = ModelVersion.objects.create(
        project=project,
        run=run2,
        release=release,
        family="classical",
        name="live",
        path="live",
        labels=["angry", "neutral"],
        platform_version="x",
    )
    import io

    latencies = []
    for k in range(31):
        chunk = np.concatenate(waves[k : k + 2])[: 2 * 16000]
        buf = io.BytesIO()
        sf.write(buf, chunk, 16000, subtype="PCM_16", format="WAV")
        t = time.perf_counter()
        services.infer_upload(
            upload=SimpleUploadedFile("chunk.wav", buf.getvalue()),
            project=project,
            mode="chunk",
            model_version_id=live_mv.pk,
        )
        if k:  # the first call loads the model
            latencies.append((time.perf_counter() - t) * 1000)

    n = len(clip_ids)
    rows = [
        ("device", f"{device} ({torch.cuda.get_device_name() if device.startswith('cuda') else 'CPU'})"),
        (
            "model",
            f"transformer family, {'wav2vec2-base size' if not args.small else 'tiny'} random init, "
            f"{sum(p.numel() for p in net.parameters()) / 1e6:.1f} M params, batch {args.batch}",
        ),
        ("clips", f"{n:,} of 1-5 s (real speech)"),
        ("platform: files -> Prediction rows", f"{platform_s:.2f} s = {n / platform_s:.1f} clips/s"),
        ("bare: forward on batched device tensors", f"{bare_s:.2f} s = {n / bare_s:.1f} clips/s"),
        (
            "live: 2 s chunk through the API path (classical, CPU)",
            f"median {statistics.median(latencies):.1f} ms, "
            f"p95 {np.percentile(latencies, 95):.1f} ms (n={len(latencies)})",
        ),
    ]
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key.ljust(width)}  {value}")
    print(f"live_chunk_median_ms={statistics.median(latencies):.1f}")
    print(f"prelabel_ratio={(n / platform_s) / (n / bare_s):.2f}")


if __name__ == "__main__":
    main()
