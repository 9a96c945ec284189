"""Speech-emotion model training for TuniSER Studio, as a plain Python package (no Django).

The Django side (`training.models`, `training.services`, `training.tasks`) decodes a release's clips
into `engine.Dataset`s, calls `engine.train(...)`, stores what it returns, and serves the exported
directory with `predict.load_predictor(...)`. Modules, in the order the data flows:

- `audio`: decoding and the preprocessing (silence trim, crop) shared by training and inference.
- `dataset`: `Dataset`, one split as the engine receives it.
- `features`: hand-crafted vectors, MFCC frames, VGGish-like log-mel patches.
- `families`: the four model families, their hyper-parameters and their validation
  (`hparams`: the schema machinery).
- `data`, `nets`: torch datasets, bucketing, augmentation, collation; the LSTM / CNN / head.
- `engine`: the training loop (checkpoints, resume, cancel, early stopping) and `export`.
- `metrics`: WA / UA / macro-F1 / per-class scores / confusion matrix.
- `predict`: loading an exported model directory for inference.
- `modeling_tuniser`: the transformers model class copied into exported transformer models.

Heavy libraries (torch, transformers) are imported lazily so that the classical family and the
Django processes that only read configs stay light.
"""
