"""Feature extraction for the three families that do not learn from the raw waveform.

All functions take a preprocessed float32 mono clip (see `audio.preprocess`), shape (n,), in
[-1, 1], and its sample rate `sr` in Hz (16 kHz in the platform). Window and hop lengths are fixed
in samples, so the durations quoted below hold at 16 kHz. Clips shorter than one FFT window are
zero-padded to it, so even an empty clip gives one frame (or one patch).
"""

from __future__ import annotations

import threading
import warnings

import librosa
import numpy as np

# Hand-crafted vector of the speech-and-text study (paper 002: Sharma, "Speech and Text-Based
# Emotion Recognizer", section "Feature Engineering"): chroma 12 + mel 60 + MFCC 20 +
# zero-crossing rate + spectral centroid = 94 per-clip means. 64 ms frames, 16 ms hop at 16 kHz.
HC_N_FFT = 1024
HC_HOP = 256
HC_N_CHROMA = 12
HC_N_MELS = 60
HC_N_MFCC = 20
HC_NAMES = (
    [f"chroma_{i}" for i in range(HC_N_CHROMA)]
    + [f"mel_{i}" for i in range(HC_N_MELS)]
    + [f"mfcc_{i}" for i in range(HC_N_MFCC)]
    + ["zcr", "spectral_centroid"]
)
assert len(HC_NAMES) == 94

# Frame-level features: 25 ms windows, 10 ms hop (the usual speech framing, and VGGish's).
WIN = 400
HOP = 160
N_FFT = 512
# VGGish front end: 64 mel bands over 125-7500 Hz, log with a 0.01 offset, 0.96 s patches.
VGGISH_FMIN = 125.0
VGGISH_FMAX = 7500.0
VGGISH_LOG_OFFSET = 0.01


def _pad_to(samples: np.ndarray, n: int) -> np.ndarray:
    if samples.size >= n:
        return samples
    return np.pad(samples, (0, n - samples.size))


def handcrafted(samples: np.ndarray, sr: int, *, with_std: bool = True) -> np.ndarray:
    """Per-clip statistics of 94 frame features: 94 means, then (with_std) 94 standard deviations.

    The 94 hand-crafted features of paper 002, named in `HC_NAMES` order, on 1024-sample frames
    with a 256-sample hop (64 / 16 ms at 16 kHz), computed with librosa: chroma (12 pitch classes,
    each frame scaled to a maximum of 1), 60 mel bands in dB (`power_to_db`: re 1.0, at most
    80 dB below the clip's loudest bin), 20 MFCC from those bands, zero-crossing rate (fraction of
    samples, 0..1) and spectral centroid divided by the Nyquist frequency (0..1).
    Returns float32 (188,) with `with_std`, else (94,).

    The mel part is in dB (log power) rather than raw power: raw-power means are dominated by a few
    loud frames and span orders of magnitude, which the classical classifiers' scaling does not fix.
    """
    x = _pad_to(np.asarray(samples, dtype=np.float32), HC_N_FFT)
    power = np.abs(librosa.stft(x, n_fft=HC_N_FFT, hop_length=HC_HOP)) ** 2
    chroma = librosa.feature.chroma_stft(S=power, sr=sr, n_chroma=HC_N_CHROMA, tuning=0.0)
    mel_db = librosa.power_to_db(librosa.feature.melspectrogram(S=power, sr=sr, n_mels=HC_N_MELS))
    mfcc = librosa.feature.mfcc(S=mel_db, n_mfcc=HC_N_MFCC)
    zcr = librosa.feature.zero_crossing_rate(x, frame_length=HC_N_FFT, hop_length=HC_HOP)
    centroid = librosa.feature.spectral_centroid(S=np.sqrt(power), sr=sr) / (sr / 2)  # 0..1
    n = min(m.shape[1] for m in (chroma, mel_db, mfcc, zcr, centroid))
    frames = np.concatenate([m[:, :n] for m in (chroma, mel_db, mfcc, zcr, centroid)], axis=0)
    stats = [frames.mean(axis=1)]
    if with_std:
        stats.append(frames.std(axis=1))
    return np.concatenate(stats).astype(np.float32)


# eGeMAPS v02 (Eyben et al., "The Geneva Minimalistic Acoustic Parameter Set (GeMAPS) for Voice
# Research and Affective Computing", IEEE Trans. Affective Computing 7(2), 2016): 88 functionals of
# pitch, jitter, shimmer, loudness, formants, spectral balance and rhythm, from audEERING's
# openSMILE (the `opensmile` package: its reference implementation, under audEERING's research
# licence). One extractor per process, made on first use.
EGEMAPS_DIM = 88
_smile = None
_smile_lock = threading.Lock()


def _get_smile():
    global _smile
    with _smile_lock:
        if _smile is None:
            import opensmile

            _smile = opensmile.Smile(
                feature_set=opensmile.FeatureSet.eGeMAPSv02,
                feature_level=opensmile.FeatureLevel.Functionals,
            )
        return _smile


def egemaps(samples: np.ndarray, sr: int) -> np.ndarray:
    """The 88 eGeMAPS v02 functionals of one clip (openSMILE's `eGeMAPSv02` set), float32 (88,),
    in openSMILE's order and units (semitones from 27.5 Hz, dB, Hz, per-second rates...).

    `samples`: float32 mono (n,) at `sr` Hz. A clip too short for openSMILE's frames (well under
    0.1 s) gives NaN for the functionals it cannot compute: the classical family's pipeline
    imputes them with the training mean. Raises as openSMILE does on a malformed signal.
    """
    x = np.asarray(samples, dtype=np.float32).reshape(1, -1)
    smile = _get_smile()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Segment too short")
        with _smile_lock:  # one openSMILE process object: calls are not known to be thread-safe
            row = smile.process_signal(x, sr).to_numpy()[0]
    return row.astype(np.float32)


def mfcc_frames(samples: np.ndarray, sr: int, n_mfcc: int = 40) -> np.ndarray:
    """MFCC frames, float32 (T, n_mfcc): 25 ms windows, 10 ms hop, from 64 mel bands.

    librosa's MFCC (power mel spectrogram in dB, at most 80 dB below its peak, then DCT-II),
    400-sample Hann windows zero-padded to a 512-point FFT, 160-sample hop, no centring:
    T = 1 + (max(n, 512) - 512) // 160. The input of the TuniSER paper's MFCC + LSTM baseline.
    """
    x = _pad_to(np.asarray(samples, dtype=np.float32), N_FFT)
    mfcc = librosa.feature.mfcc(
        y=x, sr=sr, n_mfcc=n_mfcc, n_fft=N_FFT, win_length=WIN, hop_length=HOP, n_mels=64, center=False
    )
    return np.ascontiguousarray(mfcc.T, dtype=np.float32)


def logmel(samples: np.ndarray, sr: int, n_mels: int = 64) -> np.ndarray:
    """VGGish-style stabilised log-mel frames, float32 (T, n_mels), natural log.

    VGGish's front end (Hershey et al. 2017, "CNN architectures for large-scale audio
    classification"): magnitude STFT of 25 ms Hann windows (400 samples, 512-point FFT) every
    10 ms (160 samples), `n_mels` bands over 125-7500 Hz, log(mel + 0.01). T as in `mfcc_frames`.
    The filters are librosa's (Slaney), not VGGish's HTK ones, so values are VGGish-like, not
    identical.
    """
    x = _pad_to(np.asarray(samples, dtype=np.float32), N_FFT)
    mel = librosa.feature.melspectrogram(
        y=x,
        sr=sr,
        n_fft=N_FFT,
        win_length=WIN,
        hop_length=HOP,
        window="hann",
        center=False,
        power=1.0,
        n_mels=n_mels,
        fmin=VGGISH_FMIN,
        fmax=VGGISH_FMAX,
    )
    return np.ascontiguousarray(np.log(mel + VGGISH_LOG_OFFSET).T, dtype=np.float32)


def logmel_patches(
    samples: np.ndarray, sr: int, n_mels: int = 64, patch_frames: int = 96, hop_frames: int = 48
) -> np.ndarray:
    """VGGish-like 0.96 s patches of 64-band log-mel, float32 (P, 1, patch_frames, n_mels), P >= 1:
    `logmel` then `frames_to_patches` (`patch_frames` and `hop_frames` in 10 ms frames)."""
    return frames_to_patches(logmel(samples, sr, n_mels), patch_frames=patch_frames, hop_frames=hop_frames)


def frames_to_patches(frames: np.ndarray, patch_frames: int = 96, hop_frames: int = 48) -> np.ndarray:
    """Cut (T, n_mels) log-mel frames into float32 (P, 1, patch_frames, n_mels) patches, P >= 1.

    `frames` as `logmel` returns them; `patch_frames` and `hop_frames` count 10 ms frames (96 =
    0.96 s, VGGish's example length, Hershey et al. 2017; VGGish's examples do not overlap).
    Patches start every `hop_frames` (0.48 s: the TuniSER paper's 50 % overlap). The last one is
    filled with silence (the log of the offset) to full length, and is only made if it brings at
    least half a hop of new frames (shorter tails, under 0.24 s, carry too little to classify and
    would dilute the clip's average). A clip shorter than one patch gives one padded patch.
    """
    n_frames, n_mels = frames.shape
    extra = n_frames - patch_frames - hop_frames // 2
    n_patches = 1 + max(0, int(np.ceil(extra / hop_frames)))
    total = (n_patches - 1) * hop_frames + patch_frames
    silence = np.float32(np.log(VGGISH_LOG_OFFSET))
    padded = np.full((total, n_mels), silence, dtype=np.float32)
    kept = min(n_frames, total)
    padded[:kept] = frames[:kept]
    patches = np.lib.stride_tricks.sliding_window_view(padded, (patch_frames, n_mels))[::hop_frames, 0]
    return np.ascontiguousarray(patches[:, None, :, :], dtype=np.float32)


# Mel-spectrogram images (paper 001: Hamming windows, each frame overlapping the previous by
# half, power spectrogram on the mel scale): 25 ms windows, 12.5 ms hop, in dB.
IMG_WIN = 400
IMG_HOP = 200


def mel_db(samples: np.ndarray, sr: int, n_mels: int = 128) -> np.ndarray:
    """Power mel spectrogram in dB, float32 (T, n_mels): 400-sample Hamming windows (512-point
    FFT) every 200 samples (half overlap), `n_mels` bands over 0..sr/2, `power_to_db` re the
    clip's peak, at most 80 dB below it (values in -80..0). T = 1 + (max(n, 512) - 512) // 200."""
    x = _pad_to(np.asarray(samples, dtype=np.float32), N_FFT)
    mel = librosa.feature.melspectrogram(
        y=x,
        sr=sr,
        n_fft=N_FFT,
        win_length=IMG_WIN,
        hop_length=IMG_HOP,
        window="hamming",
        center=False,
        power=2.0,
        n_mels=n_mels,
    )
    return np.ascontiguousarray(librosa.power_to_db(mel, ref=np.max, top_db=80.0).T, dtype=np.float32)
