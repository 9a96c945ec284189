"""Constants every layer shares, importable without Django (training/ml and corpus/vad use them).

SAMPLE_RATE: every stage after ingestion reads 16 kHz mono audio (the rate of the speech
encoders the platform fine-tunes: wav2vec 2.0, HuBERT and WavLM are all trained at 16 kHz).
"""

SAMPLE_RATE = 16_000
