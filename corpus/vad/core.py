"""Voice activity detection: framing, detectors, boundary refinement, clip length rules.

Everything works on a 16 kHz copy of the audio and on a grid of 10 ms "ticks":

* ``Analysis`` frames the recording once: RMS energy of every 10 ms tick (numpy, vectorised),
  webrtcvad decisions per frame (one C call per frame) and, for the Silero detector, one speech
  probability per 32 ms chunk (see ``Analysis.silero_probs``). Detection and clip quality both
  read from it, so an hour of audio is framed once however many clips are then scored (about
  2 s per hour of audio on one core for the default detector; Silero adds about 5 s per hour).
* ``detect_regions`` turns the frame decisions into speech regions:

  1. smoothing: webrtcvad frames go through the ring buffer of the classic py-webrtcvad example
     (a region opens when >90 % of the last ``hangover_ms`` of frames are voiced, starting at the
     oldest frame in the buffer, and closes when >90 % are unvoiced); Silero probabilities go
     through Silero's own hysteresis (``get_speech_timestamps_from_probs``). With
     ``refine=False`` these regions are the answer (then steps 3-4). They are late: the ring
     buffer closes a region only ``hangover_ms`` after the speech has stopped.
  2. refinement (``refine=True``), on the 30 ms-smoothed tick energy ``e``:

     - thresholds per tick: noise floor = the lowest of the 10th-percentile energies of the 1 s
       blocks within +-2 s; peak = loudest ``e`` within +-1 s; detection threshold
       ``max(noise + 9 dB, peak - 35 dB)``, extension threshold ``max(noise + 2 dB, peak - 35 dB)``;
     - runs of ``e`` above the detection threshold are speech candidates when they hold a voiced
       frame of the detector; unvoiced runs (fricatives, plosive bursts) count only when they are
       at most 300 ms long, reach within 30 dB of the local peak and lie within
       ``2 * merge_gap_ms`` of a voiced run: longer or weaker unvoiced energy is breath or noise;
     - candidates closer than ``merge_gap_ms`` are joined into segments;
     - the smoothed regions of step 1 decide which segments are speech: a segment is kept when it
       holds a voiced frame and overlaps a smoothed region (widened by 150 ms); then segments
       within ``2 * merge_gap_ms`` of a kept one are kept too (a first word before a pause, a
       last syllable: what the ring buffer is too slow to trigger on); the length rules below
       merge them in when they are short. Energy alone never creates a region, so steady noise
       that webrtcvad mistakes for speech gives none;
     - hysteresis: each segment is widened, by at most 300 ms, over ticks above the extension
       threshold, bridging dips shorter than 150 ms (weak onsets and decaying tails).

     Boundaries then sit at the speech onset and offset, not ``hangover_ms`` later, and pauses
     of at least ``merge_gap_ms`` inside a smoothed region become boundaries.
  3. regions closer than ``merge_gap_ms`` are merged, then ``padding_ms`` is added on both sides
     (refined regions only; a pause shorter than two paddings is shared, never merged);
  4. length rules: a region longer than ``max_clip_s`` is split at its quietest point (lowest
     100 ms RMS, searched at least ``min_clip_s`` from either end; among points within 1 dB of
     the minimum, the one nearest the middle), recursively; a region shorter than ``min_clip_s``
     is merged with the nearer neighbour when the pause between them is at most
     ``2 * merge_gap_ms`` and the result is not longer than ``max_clip_s``, otherwise dropped.

The constants below were set on the RAVDESS broadcast test of corpus/tests/test_vad.py (five
seeds, plus noise beds at -35 and -55 dBFS) and checked on the two long real recordings, whose
pauses they reproduce. Region boundaries are multiples of 10 ms; durations stay strictly inside
[min_clip_s, max_clip_s] (10 ms margin for float safety).
"""

from __future__ import annotations

import math
import threading
import warnings
from collections import deque
from collections.abc import Callable

import numpy as np

from core.constants import SAMPLE_RATE

from .params import Region, VadParams

TICK = 160  # samples per 10 ms tick at 16 kHz
TICKS_PER_S = SAMPLE_RATE // TICK
# The speech gate drops a clip whose mean Silero probability is under this share of the gate
# (0.5 x 0.5 = 0.25 by default): a music note's attack can spike for a chunk or two. A clip
# shorter than GATE_SHORT_S holds under 47 chunks, so a few spikes weigh more in its mean: it
# must reach GATE_MIN_MEAN_SHORT of the gate (0.45 by default). Measured on the benchmark hour:
# with the plain bar, the music clips that passed (5 with seed 7, 1 with seed 11) were all
# 0.42-1.12 s long with mean probabilities 0.26-0.40; the short bar removes all of them and
# drops no utterance more (benchmarks/RESULTS.md).
GATE_MIN_MEAN = 0.5
GATE_MIN_MEAN_SHORT = 0.9
GATE_SHORT_S = 1.5
SILERO_CHUNK = 512  # samples per Silero chunk at 16 kHz (32 ms)
SILERO_BATCH_CHUNKS = 313  # Silero runs 10 s stretches side by side ...
SILERO_PRIME_CHUNKS = 32  # ... each primed with the 1 s before it
FULL_SCALE_CLIP = 0.999
DB_FLOOR = -120.0

# refinement (see the module docstring)
NOISE_MARGIN_DB = 9.0  # detection threshold above the noise floor
LOW_MARGIN_DB = 2.0  # extension threshold above the noise floor
PEAK_RANGE_DB = 35.0  # speech is within 35 dB of the local peak (matters on very clean audio)
PEAK_SPAN_TICKS = 100  # local peak: loudest within +-1 s
NOISE_BLOCK_TICKS = 100  # noise floor: 10th percentile of 1 s blocks ...
NOISE_SPAN_BLOCKS = 2  # ... lowest within +-2 s
EXTEND_TICKS = 30  # hysteresis widens a segment by at most 300 ms ...
EXTEND_DIP_TICKS = 15  # ... across dips shorter than 150 ms
MAX_UNVOICED_TICKS = 30  # unvoiced energetic runs of up to 300 ms may join speech ...
UNVOICED_RANGE_DB = 30.0  # ... when they reach within 30 dB of the local peak
ATTACH_FACTOR = 2.0  # fragments within 2 * merge_gap_ms of speech are kept
SEARCH_TICKS = 15  # a segment must overlap a smoothed region widened by 150 ms
# length rules and quality
SPLIT_WINDOW_TICKS = 10  # 100 ms RMS for choosing split points
SPLIT_TIE_DB = 1.0
QUALITY_CONTEXT_S = 0.5
# SNR estimates are capped here (see ``clip_quality``): above it the "noise" is digital silence.
SNR_CAP_DB = 60.0

ProgressFn = Callable[[float], None]
DEFAULT_PARAMS = VadParams()  # frozen, so safe as a shared default


class _Progress:
    """Forwards increasing fractions to a callback, at most about 100 times, ending at 1.0."""

    def __init__(self, callback: ProgressFn | None, lo: float = 0.0, hi: float = 1.0, parent=None):
        self.callback = callback
        self.lo, self.hi = lo, hi
        self.parent = parent
        self.last = -1.0

    def sub(self, lo: float, hi: float) -> _Progress:
        span = self.hi - self.lo
        return _Progress(None, self.lo + span * lo, self.lo + span * hi, parent=self._root())

    def _root(self) -> _Progress:
        return self.parent._root() if self.parent is not None else self

    def __call__(self, fraction: float) -> None:
        value = self.lo + (self.hi - self.lo) * min(max(float(fraction), 0.0), 1.0)
        self._root()._emit(value)

    def _emit(self, value: float) -> None:
        if self.callback is None:
            return
        if value >= 1.0:
            value = 1.0
            if self.last >= 1.0:
                return
        elif value - self.last < 0.01:
            return
        self.last = value
        self.callback(value)


# ---------------------------------------------------------------------------------------------
# input handling


def _to_float_mono(samples) -> np.ndarray:
    """float32 mono in [-1, 1] from int16 / int32 / uint8 / float samples, 1-D or (n, channels)."""
    x = np.asarray(samples)
    if x.ndim not in (1, 2):
        raise ValueError(f"samples must be a 1-D array (got shape {x.shape})")
    if x.dtype == np.int16:
        x = x.astype(np.float32) / np.float32(32768.0)
    elif x.dtype == np.int32:
        x = (x / 2147483648.0).astype(np.float32)
    elif x.dtype == np.uint8:
        x = (x.astype(np.float32) - np.float32(128.0)) / np.float32(128.0)
    elif x.dtype.kind in "iub" or x.dtype.kind not in "f":
        raise ValueError(f"unsupported sample type {x.dtype} (use int16 or float in [-1, 1])")
    if x.ndim == 2:  # (n, channels) as soundfile gives it; (channels, n) when that is clearly it
        if x.shape[0] < x.shape[1] and x.shape[0] <= 8:
            x = x.T
        x = x.mean(axis=1)
    return np.ascontiguousarray(x, dtype=np.float32)


def _resample(x: np.ndarray, sr: int) -> np.ndarray:
    if sr == SAMPLE_RATE:
        return x
    from scipy.signal import resample_poly

    g = math.gcd(int(sr), SAMPLE_RATE)
    return resample_poly(x, SAMPLE_RATE // g, int(sr) // g).astype(np.float32)


# ---------------------------------------------------------------------------------------------
# Silero model, loaded lazily once per process


_silero_model = None
_silero_lock = threading.Lock()


def _get_silero():
    global _silero_model
    with _silero_lock:
        if _silero_model is None:
            import torch

            threads = torch.get_num_threads()
            try:
                # silero_vad.model calls torch.set_num_threads(1) when imported: undo it
                with warnings.catch_warnings():  # its loader uses deprecated importlib/jit calls
                    warnings.simplefilter("ignore", DeprecationWarning)
                    from silero_vad import load_silero_vad

                    model = load_silero_vad()
            finally:
                if torch.get_num_threads() != threads:
                    torch.set_num_threads(threads)
            _silero_model = model
    return _silero_model


# ---------------------------------------------------------------------------------------------
# analysis


class Analysis:
    """One recording framed once: tick energies, detector decisions (cached per setting).

    Arguments: ``samples``, int16 / int32 / uint8 PCM or any float dtype in [-1, 1], 1-D or 2-D
    ((n, channels) as soundfile gives it, or (channels, n) with at most 8 channels; channels are
    averaged); ``sample_rate`` in Hz, any positive int (resampled to 16 kHz with
    ``scipy.signal.resample_poly``); ``params`` chooses the detector run up front (default
    ``VadParams()``); ``progress``, an optional callable receiving increasing fractions in [0, 1].

    Attributes: ``samples``, float32 (n,), the 16 kHz mono copy; ``sample_rate`` (16000) and
    ``source_rate`` (the input's, Hz); ``duration`` in seconds; ``n_ticks`` = n // 160 whole
    10 ms ticks (a shorter tail is ignored by the energy tracks); ``power``, float64
    (n_ticks,), mean square per tick (1.0 = full-scale); ``energy_db``, the same in dBFS, floored
    at -120; ``clipped_per_tick``, int (n_ticks,), input samples with |x| >= 0.999 per tick.
    Detector outputs are computed on first use and cached: ``webrtc_flags(aggressiveness,
    frame_ms)`` and ``silero_probs()``. With ``prefetch_silero``, Silero's probabilities are
    computed in a background thread from the start (torch releases the GIL: on a second core,
    beside webrtcvad and the energy tracks); ``silero_probs()`` then waits for them.

    Raises ValueError on invalid ``params``, a ``sample_rate`` that is not a positive whole
    number, samples that are not 1-D or 2-D, or an unsupported sample type (int8, int64, bool,
    complex...).
    """

    def __init__(
        self,
        samples,
        sample_rate: int,
        params: VadParams | None = None,
        progress=None,
        *,
        prefetch_silero: bool = False,
    ):
        params = params or VadParams()
        params.validate()
        if not isinstance(sample_rate, (int, np.integer)) or sample_rate <= 0:
            raise ValueError(f"sample_rate must be a positive whole number (got {sample_rate!r})")
        prog = progress if isinstance(progress, _Progress) else _Progress(progress)
        raw = np.asarray(samples)
        # 16 kHz int16 input goes to webrtcvad as it is
        self._int16 = raw if raw.ndim == 1 and raw.dtype == np.int16 and sample_rate == SAMPLE_RATE else None
        x = _to_float_mono(raw)
        self.source_rate = int(sample_rate)
        # full-scale samples are counted on the original samples, before resampling smooths them
        clipped = np.flatnonzero(np.abs(x) >= FULL_SCALE_CLIP)
        x = _resample(x, self.source_rate)
        self.samples: np.ndarray = x
        self.sample_rate = SAMPLE_RATE
        self._silero: np.ndarray | None = None
        self._silero_thread: threading.Thread | None = None
        self._silero_outcome: list = []
        if prefetch_silero and params.detector == "webrtc":
            self.silero_prefetch()
        self.n_ticks = len(x) // TICK
        self.duration = len(x) / SAMPLE_RATE
        frames = x[: self.n_ticks * TICK].reshape(self.n_ticks, TICK)
        self.power = (np.einsum("ij,ij->i", frames, frames, dtype=np.float64) / TICK).astype(np.float64)
        self.energy_db = _db(self.power)
        tick_of = (clipped.astype(np.int64) * TICKS_PER_S) // self.source_rate
        self.clipped_per_tick = np.bincount(tick_of[tick_of < self.n_ticks], minlength=self.n_ticks)
        self._clipped_cum = np.concatenate([[0], np.cumsum(self.clipped_per_tick)])
        self._pcm: bytes | None = None
        self._webrtc: dict[tuple[int, int], np.ndarray] = {}
        self._derived: dict[str, np.ndarray] = {}
        prog(0.05)
        if params.detector == "silero":
            self.silero_probs(prog.sub(0.05, 0.95))
        else:
            self.webrtc_flags(params.aggressiveness, params.frame_ms, prog.sub(0.05, 0.95))
        prog(0.95)

    # detectors -------------------------------------------------------------------------------

    def webrtc_flags(self, aggressiveness: int, frame_ms: int, progress=None) -> np.ndarray:
        """webrtcvad's speech decision for each full ``frame_ms`` frame: bool array (n_frames,).

        Frame i covers samples [i k, (i + 1) k) of the 16 kHz copy, k = 16 * frame_ms; a partial
        last frame is dropped, so n_frames = len(samples) // k. webrtcvad (py-webrtcvad,
        the WebRTC GMM VAD) reads 16-bit mono PCM in 10, 20 or 30 ms frames: here the 16 kHz copy
        scaled by ``detector_gain``. ``aggressiveness`` is its mode 0..3 (webrtcvad raises
        ValueError outside it); ``frame_ms`` is not checked here, pass 10, 20 or 30 as
        ``VadParams.validate`` requires. Cached per (aggressiveness, frame_ms); ``progress`` as
        in the constructor.
        """
        key = (int(aggressiveness), int(frame_ms))
        if key in self._webrtc:
            return self._webrtc[key]
        import webrtcvad

        pcm = memoryview(self._pcm16())
        vad = webrtcvad.Vad(key[0])
        samples_per_frame = SAMPLE_RATE * key[1] // 1000
        step = samples_per_frame * 2  # bytes per frame
        try:  # the C function behind Vad.is_speech, without its per-call Python checks
            import _webrtcvad

            process, handle = _webrtcvad.process, vad._vad

            def is_speech(buf):
                return process(handle, SAMPLE_RATE, buf, samples_per_frame)
        except (ImportError, AttributeError):  # pragma: no cover - other webrtcvad builds

            def is_speech(buf):
                return vad.is_speech(bytes(buf), SAMPLE_RATE)

        n = len(pcm) // step
        flags = np.zeros(n, dtype=bool)
        prog = progress or (lambda f: None)
        block = max(1, n // 50)
        for b0 in range(0, n, block):
            b1 = min(n, b0 + block)
            flags[b0:b1] = [is_speech(pcm[i * step : (i + 1) * step]) for i in range(b0, b1)]
            prog(b1 / n)
        self._webrtc[key] = flags
        return flags

    def detector_gain(self) -> float:
        """Linear amplitude gain (1.0 up to about 31.6, i.e. 0..+30 dB) applied to webrtcvad's copy
        of the audio (never to the clips or their figures).

        webrtcvad is level-sensitive: quiet recordings (e.g. calm RAVDESS actors at -55 dBFS,
        a programme mixed low) come back with no voiced frame at all. The loudest frames
        (95th percentile of 10 ms power) are brought to about -20 dBFS, by at most +30 dB and
        never past full scale; loud material is left as it is (gain >= 1 only). Audio without
        speech-like contrast (loud frames under 15 dB above the quiet ones: steady noise, hum)
        is not amplified, so noise is never turned into "speech".
        """
        if self.n_ticks == 0:
            return 1.0
        loud_db = float(_db(np.percentile(self.power, 95)))
        quiet_db = float(_db(np.percentile(self.power, 10)))
        if loud_db - quiet_db < MIN_CONTRAST_DB:
            return 1.0
        peak = float(np.max(np.abs(self.samples))) or 1.0
        gain_db = min(TARGET_LOUD_DBFS - loud_db, MAX_DETECTOR_GAIN_DB, 20 * np.log10(0.98 / peak))
        return float(10 ** (max(gain_db, 0.0) / 20))

    def _pcm16(self) -> bytes:
        """16-bit little-endian PCM of the 16 kHz samples (webrtcvad's input, level-normalised by
        `detector_gain`), made once."""
        if self._pcm is None:
            gain = self.detector_gain()
            if self._int16 is not None and gain == 1.0:
                self._pcm = self._int16.astype("<i2", copy=False).tobytes()
            else:
                buf = self.samples * np.float32(32768.0 * gain)
                np.rint(buf, out=buf)
                np.clip(buf, -32768, 32767, out=buf)
                self._pcm = buf.astype("<i2").tobytes()
                del buf
            self._int16 = None
        return self._pcm

    def silero_probs(self, progress=None) -> np.ndarray:
        """Silero VAD's speech probability for each 32 ms chunk: float32 (ceil(n / 512),), in [0, 1].

        Chunk i covers samples [512 i, 512 (i + 1)) of the 16 kHz copy; the last one is
        zero-padded. The model (Silero VAD, from the silero-vad package; torch required) is
        loaded on first use, once per process. Cached; ``progress`` as in the constructor.

        The model is a recurrent network fed one 32 ms chunk per call. A long recording is cut
        into 10 s stretches that run side by side as one batch, each primed with the 1 s of
        audio before it (whose outputs are dropped): 345 model calls for an hour as for 11 s,
        instead of 112,500. Against one long sequential run (3 min of the benchmark hour), the
        probabilities differ by 0.027 on average and 1.8 % of chunks change side of 0.5; with a
        3 s priming, 0.018 and 1.4 %, for 18 % more work. Speech regions, clips inside music and
        boundary F1 of benchmarks.segmentation were the same with both (seeds 7 and 11).
        Recordings up to 10 s are run exactly as Silero runs them.
        """
        if self._silero is not None:
            return self._silero
        if self._silero_thread is not None:
            self._silero_thread.join()
            self._silero_thread = None
            outcome = self._silero_outcome.pop()
            if isinstance(outcome, BaseException):
                raise outcome
            self._silero = outcome
            return outcome
        self._silero = self._silero_compute(progress)
        return self._silero

    def silero_prefetch(self) -> None:
        """Start ``silero_probs`` in a background thread (no progress reports from it); a later
        ``silero_probs()`` waits for the result, or re-raises its error. No-op once started."""
        if self._silero is not None or self._silero_thread is not None:
            return

        def work() -> None:
            try:
                self._silero_outcome.append(self._silero_compute(None))
            except BaseException as exc:  # handed to the waiting caller
                self._silero_outcome.append(exc)

        self._silero_thread = threading.Thread(target=work, name="silero-vad", daemon=True)
        self._silero_thread.start()

    def _silero_compute(self, progress) -> np.ndarray:
        import torch

        model = _get_silero()
        x = self.samples
        n = -(-len(x) // SILERO_CHUNK)
        stretch, prime = SILERO_BATCH_CHUNKS, SILERO_PRIME_CHUNKS
        rows = max(1, -(-n // stretch))
        steps = min(n, stretch) + (prime if rows > 1 else 0)
        lead = prime if rows > 1 else 0
        batch = np.zeros((rows, steps * SILERO_CHUNK), dtype=np.float32)
        for i in range(rows):
            first = i * stretch - lead  # chunk index of the row's first input (may be < 0)
            src0 = max(0, first) * SILERO_CHUNK
            src1 = min(len(x), (i + 1) * stretch * SILERO_CHUNK)
            dst0 = (max(0, first) - first) * SILERO_CHUNK
            batch[i, dst0 : dst0 + (src1 - src0)] = x[src0:src1]
        t = torch.from_numpy(batch)
        out = np.zeros((rows, steps), dtype=np.float32)
        prog = progress or (lambda f: None)
        with _silero_lock, torch.inference_mode():
            threads = torch.get_num_threads()
            try:
                # one intra-op thread while the model runs (what silero-vad itself sets at import):
                # its ops are tiny and on a busy machine OpenMP threads waiting for each other made
                # it 10-20x slower (measured: 25 s instead of 0.6 s for 3 min of audio). The
                # caller's setting is restored as soon as the loop ends.
                if threads != 1:
                    torch.set_num_threads(1)
                model.reset_states()
                for j in range(steps):
                    chunk = t[:, j * SILERO_CHUNK : (j + 1) * SILERO_CHUNK]
                    out[:, j] = model(chunk, SAMPLE_RATE).numpy().ravel()
                    if j % 20 == 19:
                        prog((j + 1) / steps)
                model.reset_states()
            finally:
                if torch.get_num_threads() != threads:
                    torch.set_num_threads(threads)
        prog(1.0)
        return np.ascontiguousarray(out[:, lead:].reshape(-1)[:n])

    def voiced_ticks(self, params: VadParams) -> np.ndarray:
        """The chosen detector's decision per 10 ms tick: bool array (n_ticks,).

        Silero: the probability of the 32 ms chunk holding the tick's centre is at least
        ``params.silero_threshold``; webrtc: ``webrtc_voiced_ticks``.
        """
        if params.detector == "silero":
            probs = self.silero_probs()
            centre = np.arange(self.n_ticks) * TICK + TICK // 2
            return probs[np.minimum(centre // SILERO_CHUNK, len(probs) - 1)] >= params.silero_threshold
        return self.webrtc_voiced_ticks(params.aggressiveness, params.frame_ms)

    def webrtc_voiced_ticks(self, aggressiveness: int, frame_ms: int) -> np.ndarray:
        """``webrtc_flags`` on the 10 ms tick grid: bool (n_ticks,), each frame's decision repeated
        over its frame_ms / 10 ticks; ticks after the last full frame are False."""
        flags = self.webrtc_flags(aggressiveness, frame_ms)
        ticks = np.repeat(flags, frame_ms // 10)
        out = np.zeros(self.n_ticks, dtype=bool)
        m = min(len(ticks), self.n_ticks)
        out[:m] = ticks[:m]
        return out

    # derived energy tracks -------------------------------------------------------------------

    def smoothed_db(self, width: int) -> np.ndarray:
        """RMS level in dBFS (floored at -120) over ``width`` ticks (10 ms each) centred on each
        tick, the window cut short at the edges: float64 (n_ticks,). Cached per width."""
        key = f"smooth{width}"
        if key not in self._derived:
            self._derived[key] = _db(_moving_mean(self.power, width))
        return self._derived[key]

    def noise_floor_db(self) -> np.ndarray:
        """Per-tick noise floor in dBFS, float64 (n_ticks,): the 10th percentile of the tick levels
        of each 1 s block, then the lowest of those within +-2 blocks (+-2 s). Cached."""
        if "noise" not in self._derived:
            e = self.energy_db
            n_blocks = max(1, -(-len(e) // NOISE_BLOCK_TICKS))
            if len(e) == 0:
                self._derived["noise"] = e.copy()
            else:
                padded = np.full(n_blocks * NOISE_BLOCK_TICKS, np.nan)
                padded[: len(e)] = e
                blocks = np.nanpercentile(padded.reshape(n_blocks, NOISE_BLOCK_TICKS), 10, axis=1)
                from scipy.ndimage import minimum_filter1d

                floor = minimum_filter1d(blocks, size=2 * NOISE_SPAN_BLOCKS + 1, mode="nearest")
                self._derived["noise"] = np.repeat(floor, NOISE_BLOCK_TICKS)[: len(e)]
        return self._derived["noise"]

    # clips -------------------------------------------------------------------------------------

    def clip_quality(self, start: float, end: float, params: VadParams | None = None) -> dict:
        """Quality figures of the clip [start, end) seconds, a dict as ``clip_quality`` describes.

        ``start`` and ``end`` are clamped to [0, duration]; ValueError when nothing is left.
        ``params`` (default ``VadParams()``) picks the webrtcvad mode and frame length, whatever
        the detector used for the regions.
        """
        params = params or VadParams()
        start = max(0.0, float(start))
        end = min(self.duration, float(end))
        if not end > start:
            raise ValueError(
                f"clip end ({end:.3f} s) must be after its start ({start:.3f} s) and inside the audio"
            )
        s0, s1 = int(round(start * SAMPLE_RATE)), int(round(end * SAMPLE_RATE))
        seg = self.samples[s0:s1]
        ms = float(np.dot(seg, seg)) / max(1, len(seg)) if len(seg) else 0.0
        level = _db_scalar(ms)

        t0 = min(self.n_ticks, int(math.floor(start * TICKS_PER_S)))
        t1 = min(self.n_ticks, max(t0 + 1, int(math.ceil(end * TICKS_PER_S))))
        clipped = int(self._clipped_cum[t1] - self._clipped_cum[t0])
        clipping = min(1.0, clipped / max(1.0, (end - start) * self.source_rate))

        flags = self.webrtc_flags(params.aggressiveness, params.frame_ms)
        f0 = int(math.floor(start * 1000 / params.frame_ms))
        f1 = int(math.ceil(end * 1000 / params.frame_ms))
        sel = flags[f0 : min(f1, len(flags))]
        speech_ratio = float(sel.mean()) if len(sel) else 0.0

        voiced = self.webrtc_voiced_ticks(params.aggressiveness, params.frame_ms)
        power = self.power
        clip_p, clip_v = power[t0:t1], voiced[t0:t1]
        c0 = max(0, t0 - int(QUALITY_CONTEXT_S * TICKS_PER_S))
        c1 = min(self.n_ticks, t1 + int(QUALITY_CONTEXT_S * TICKS_PER_S))
        ctx_p, ctx_v = power[c0:c1], voiced[c0:c1]
        if len(clip_p) == 0:
            snr = 0.0
        else:
            sig = float(clip_p[clip_v].mean()) if clip_v.any() else float(clip_p.mean())
            unvoiced = ctx_p[~ctx_v]
            if len(unvoiced) >= 10:
                noise = float(np.median(unvoiced))
            else:
                noise = float(np.percentile(ctx_p, 10))
            noise = max(noise, 1e-12)
            snr = 10.0 * math.log10(max(sig - noise, noise * 1e-3) / noise)
            # Pauses gated to digital zeros (broadcast encoders do it) would read ~100-120 dB.
            snr = min(snr, SNR_CAP_DB)
        return {
            "level_dbfs": round(level, 2),
            "speech_ratio": round(speech_ratio, 4),
            "clipping_ratio": round(clipping, 6),
            "snr_db": round(snr, 2),
        }

    # detection -------------------------------------------------------------------------------

    def detect_regions(self, params: VadParams | None = None, progress=None) -> list[Region]:
        """Speech regions of this recording (list of ``Region``, seconds), as the module function
        ``detect_regions`` describes. ValueError on invalid ``params`` (default ``VadParams()``).
        """
        params = params or VadParams()
        params.validate()
        prog = progress if isinstance(progress, _Progress) else _Progress(progress)
        if params.detector == "silero":
            self.silero_probs(prog.sub(0.0, 0.9))
        else:
            self.webrtc_flags(params.aggressiveness, params.frame_ms, prog.sub(0.0, 0.9))
        prog(0.9)
        ticks = self._coarse_ticks(params)
        if params.refine and ticks:
            ticks = self._refine(ticks, params)
        # padding applies to refined boundaries; unrefined Silero got it as its speech_pad_ms,
        # and the textbook ring buffer already pads by its own length
        ticks = _merge_close(ticks, _ms_to_ticks(params.merge_gap_ms))
        pad = int(round(params.padding_ms / 10)) if params.refine else 0
        if pad:
            ticks = _pad(ticks, pad, self.n_ticks)
        gate = params.detector == "webrtc" and params.speech_gate > 0
        if gate and ticks:
            ticks = self._speech_gate(ticks, params)
        ticks = self._apply_length_rules(ticks, params)
        if gate and ticks:
            # A clip must be speech on the whole, not only at a spike the padding widened (on the
            # benchmark hour the music clips that got through were all under 0.5 mean probability;
            # a bar at the gate itself dropped real utterances of the accuracy set-up).
            ticks = [(a, b) for a, b in ticks if self._gate_passes(a, b, params.speech_gate)]
        prog(1.0)
        return [Region(a / TICKS_PER_S, b / TICKS_PER_S) for a, b in ticks]

    def speech_mask(self, threshold: float, pad_ms: int) -> np.ndarray:
        """Ticks Silero VAD calls speech: bool (n_ticks,), the chunks with probability >=
        ``threshold``, each run dilated by ``pad_ms`` on both sides (Silero's own 32 ms chunks
        are coarser than the refined boundaries it must not cut)."""
        probs = self.silero_probs()
        centre = np.arange(self.n_ticks) * TICK + TICK // 2
        mask = probs[np.minimum(centre // SILERO_CHUNK, len(probs) - 1)] >= threshold
        pad = _ms_to_ticks(pad_ms)
        out = np.zeros_like(mask)
        for a, b in _runs(mask):
            out[max(0, a - pad) : min(self.n_ticks, b + pad)] = True
        return out

    def _speech_gate(self, ticks: list[tuple[int, int]], params: VadParams) -> list[tuple[int, int]]:
        """Keep of each region only the parts Silero also calls speech (``speech_mask``): music,
        jingles and applause, which webrtcvad's energy-and-pitch GMM takes for voice, fall out."""
        mask = self.speech_mask(params.speech_gate, params.speech_gate_pad_ms)
        out: list[tuple[int, int]] = []
        for a, b in ticks:
            out.extend((a + s, a + e) for s, e in _runs(mask[a:b]))
        return out

    def _gate_passes(self, a: int, b: int, gate: float) -> bool:
        """Whether the clip [a, b) (ticks) is speech on the whole: its mean Silero probability
        reaches GATE_MIN_MEAN of the gate, or GATE_MIN_MEAN_SHORT of it under GATE_SHORT_S."""
        short = (b - a) / TICKS_PER_S < GATE_SHORT_S
        share = GATE_MIN_MEAN_SHORT if short else GATE_MIN_MEAN
        return self.speech_probability(a / TICKS_PER_S, b / TICKS_PER_S) >= share * gate

    def speech_probability(self, start: float, end: float) -> float:
        """Silero VAD's mean speech probability over [start, end) seconds, in [0, 1]."""
        probs = self.silero_probs()
        c0 = int(start * SAMPLE_RATE) // SILERO_CHUNK
        c1 = max(c0 + 1, int(math.ceil(end * SAMPLE_RATE / SILERO_CHUNK)))
        sel = probs[c0 : min(c1, len(probs))]
        return float(sel.mean()) if len(sel) else 0.0

    def _coarse_ticks(self, params: VadParams) -> list[tuple[int, int]]:
        if params.detector == "silero":
            from silero_vad import get_speech_timestamps_from_probs

            probs = self.silero_probs()
            stamps = get_speech_timestamps_from_probs(
                probs.tolist(),
                sampling_rate=SAMPLE_RATE,
                threshold=params.silero_threshold,
                speech_pad_ms=0 if params.refine else params.padding_ms,
                audio_length_samples=len(self.samples),
            )
            out = []
            for s in stamps:
                a = int(s["start"] // TICK)
                b = min(self.n_ticks, int(-(-s["end"] // TICK)))
                if b > a:
                    out.append((a, b))
            return out
        flags = self.webrtc_flags(params.aggressiveness, params.frame_ms)
        ring = max(1, int(round(params.hangover_ms / params.frame_ms)))
        per = params.frame_ms // 10
        return [(a * per, min(self.n_ticks, b * per)) for a, b in _ring_buffer(flags, ring)]

    def _refine(self, coarse: list[tuple[int, int]], params: VadParams) -> list[tuple[int, int]]:
        e = self.smoothed_db(3)
        hi_thr, lo_thr = self.refine_thresholds()
        voiced = self.voiced_ticks(params)
        vcum = np.concatenate([[0], np.cumsum(voiced)])
        merge = _ms_to_ticks(params.merge_gap_ms)
        attach = int(ATTACH_FACTOR * merge)
        n = self.n_ticks

        # 1. energetic runs; those without a voiced frame count only when short (a fricative, a
        #    plosive burst) and close to a voiced run: long unvoiced energy is breath or noise
        runs = np.array(_runs(e > hi_thr), dtype=np.int64).reshape(-1, 2)
        if not len(runs):
            return []
        has_voice = vcum[runs[:, 1]] - vcum[runs[:, 0]] > 0
        short = runs[:, 1] - runs[:, 0] <= MAX_UNVOICED_TICKS
        peak = self.local_peak_db()
        run_max = np.maximum.reduceat(np.append(e, e[-1]), runs.ravel())[::2]
        loud = run_max >= peak[runs[:, 0]] - UNVOICED_RANGE_DB
        ok = has_voice | (short & loud & _near(runs, runs[has_voice], attach))
        # 2. runs closer than merge_gap_ms form segments
        segs = np.array(_merge_close([tuple(r) for r in runs[ok].tolist()], merge), dtype=np.int64).reshape(
            -1, 2
        )
        if not len(segs):
            return []
        seg_voice = vcum[segs[:, 1]] - vcum[segs[:, 0]] > 0
        # 3. the smoothed detector decides where speech is: keep voiced segments overlapping a
        #    smoothed region (widened by the search margin), then fragments near a kept segment
        #    (a first word before a pause, a last syllable) that the length rules merge in
        inside = np.zeros(n + 1, dtype=np.int64)
        for a, b in coarse:
            inside[max(0, a - SEARCH_TICKS)] += 1
            inside[min(n, b + SEARCH_TICKS)] -= 1
        covered = np.concatenate([[0], np.cumsum(np.cumsum(inside)[:n] > 0)])
        keep = seg_voice & (covered[segs[:, 1]] - covered[segs[:, 0]] > 0)
        for _ in range(2):
            if not keep.any():
                return []
            keep = keep | _near(segs, segs[keep], attach)
        segs = segs[keep]
        # 4. hysteresis: widen each segment while the energy stays above the low threshold
        out: list[tuple[int, int]] = []
        for i, (a, b) in enumerate(segs.tolist()):
            left_stop = max(0, a - EXTEND_TICKS, out[-1][1] if out else 0)
            right_stop = min(n, b + EXTEND_TICKS, int(segs[i + 1][0]) if i + 1 < len(segs) else n)
            out.append((_extend_left(e, a, lo_thr, left_stop), _extend_right(e, b, lo_thr, right_stop)))
        return out

    def local_peak_db(self) -> np.ndarray:
        """Loudest 30 ms level (``smoothed_db(3)``, dBFS) within +-1 s of each tick: float64
        (n_ticks,). Cached."""
        if "peak" not in self._derived:
            from scipy.ndimage import maximum_filter1d

            e = self.smoothed_db(3)
            self._derived["peak"] = (
                maximum_filter1d(e, size=2 * PEAK_SPAN_TICKS + 1, mode="nearest") if len(e) else e
            )
        return self._derived["peak"]

    def refine_thresholds(self) -> tuple[np.ndarray, np.ndarray]:
        """Per-tick (detection, extension) thresholds in dBFS for boundary refinement, two float64
        (n_ticks,) arrays: max(noise floor + 9 dB, local peak - 35 dB) and max(noise floor + 2 dB,
        local peak - 35 dB) (``noise_floor_db``, ``local_peak_db``). Cached."""
        if "thr_hi" not in self._derived:
            noise = self.noise_floor_db()
            floor = self.local_peak_db() - PEAK_RANGE_DB
            self._derived["thr_hi"] = np.maximum(noise + NOISE_MARGIN_DB, floor)
            self._derived["thr_lo"] = np.maximum(noise + LOW_MARGIN_DB, floor)
        return self._derived["thr_hi"], self._derived["thr_lo"]

    def _apply_length_rules(self, ticks: list[tuple[int, int]], params: VadParams) -> list[tuple[int, int]]:
        # strict tick bounds so that float durations never leave [min_clip_s, max_clip_s]
        min_t = int(math.floor(params.min_clip_s * TICKS_PER_S + 1e-6)) + 1
        max_t = int(math.ceil(params.max_clip_s * TICKS_PER_S - 1e-6)) - 1
        e100 = self.smoothed_db(SPLIT_WINDOW_TICKS)
        pieces: list[tuple[int, int]] = []
        for a, b in ticks:
            pieces.extend(_split_long(a, b, e100, min_t, max_t))
        short_gap = 2 * _ms_to_ticks(params.merge_gap_ms)
        regs = list(pieces)
        while True:
            shorts = [i for i, (a, b) in enumerate(regs) if b - a < min_t]
            if not shorts:
                break
            i = min(shorts, key=lambda k: regs[k][1] - regs[k][0])
            a, b = regs[i]
            options = []
            if i > 0:
                gap = a - regs[i - 1][1]
                if gap <= short_gap and b - regs[i - 1][0] <= max_t:
                    options.append((gap, i - 1))
            if i + 1 < len(regs):
                gap = regs[i + 1][0] - b
                if gap <= short_gap and regs[i + 1][1] - a <= max_t:
                    options.append((gap, i + 1))
            if options:
                _, j = min(options)
                lo, hi = min(i, j), max(i, j)
                regs[lo : hi + 1] = [(regs[lo][0], regs[hi][1])]
            else:
                del regs[i]
        assert all(min_t <= b - a <= max_t for a, b in regs)
        return regs


# ---------------------------------------------------------------------------------------------
# public functions


TARGET_LOUD_DBFS = -20.0
MAX_DETECTOR_GAIN_DB = 30.0
MIN_CONTRAST_DB = 15.0


def analyse(
    samples,
    sample_rate: int,
    params: VadParams = DEFAULT_PARAMS,
    progress=None,
    *,
    prefetch_silero: bool = False,
) -> Analysis:
    """Frame a recording once (energies + the chosen detector's decisions) for reuse.

    Arguments, attributes and errors (ValueError) as in ``Analysis``; pass the result as
    ``samples`` to ``detect_regions`` and ``clip_quality`` so that nothing is recomputed.
    """
    return Analysis(samples, sample_rate, params, progress, prefetch_silero=prefetch_silero)


def detect_regions(
    samples, sample_rate: int, params: VadParams = DEFAULT_PARAMS, progress=None
) -> list[Region]:
    """Speech regions of a recording, sorted, non-overlapping, each min_clip_s..max_clip_s long.

    ``samples``: 1-D int16, or float in [-1, 1] (2-D and other PCM types as ``Analysis`` takes
    them), at ``sample_rate`` Hz (any other rate than 16 kHz is resampled), or an ``Analysis``
    (then ``sample_rate`` is ignored). ``progress``: optional callable receiving increasing
    fractions, about 100 calls at most, the last one 1.0.

    Returns a list of ``Region`` (start, end in seconds on the 10 ms grid), empty when no speech
    is found; the algorithm is steps 1-4 of the module docstring. Raises ValueError on invalid
    ``params`` or input (see ``Analysis``).
    """
    params.validate()
    prog = _Progress(progress)
    if isinstance(samples, Analysis):
        analysis = samples
    else:
        analysis = Analysis(samples, sample_rate, params, prog.sub(0.0, 0.9))
    return analysis.detect_regions(params, prog.sub(0.9, 1.0) if not isinstance(samples, Analysis) else prog)


def clip_quality(
    samples, sample_rate: int, start: float, end: float, params: VadParams = DEFAULT_PARAMS
) -> dict:
    """Quality figures of the clip [start, end) seconds of the recording.

    Returns a dict of four floats (rounded to 2, 4, 6 and 2 decimals):

    * ``level_dbfs``: RMS level of the clip in dBFS (-120.0 for digital silence);
    * ``speech_ratio``: share of the webrtcvad frames (params.aggressiveness / frame_ms) that
      overlap the clip and are voiced;
    * ``clipping_ratio``: share of the clip's original samples with |x| >= 0.999 of full scale
      (counted before any resampling, at 10 ms resolution);
    * ``snr_db``: speech-to-noise estimate. Speech power = mean power of the clip's voiced 10 ms
      ticks (all ticks if none is voiced). Noise power = median power of the unvoiced ticks in the
      clip plus 0.5 s of context either side (the 10th percentile of all those ticks when fewer
      than 10 are unvoiced). SNR = 10 log10((speech - noise) / noise), floored at -30 dB and
      capped at ``SNR_CAP_DB`` (60 dB). Why the cap: when the pauses are digital silence (a
      broadcast encoder's gate, zero padding) the noise power is set by rounding, not by the
      room, and the ratio would read 90-120 dB, a figure about the format (16-bit PCM's
      quantisation floor sits near -98 dBFS), not the recording. 60 dB is above any real speech
      recording's noise floor (ITU-T P.56's speech level over a quiet studio's noise floor is
      well under it), so 60 means "no measurable noise": the UI shows it as "≥ 60 dB".

    ``samples`` may be an ``Analysis`` of the whole recording (fast path: nothing is recomputed);
    otherwise 1-D (or (n, channels)) samples at ``sample_rate`` Hz, of which only the clip and
    its 0.5 s context are analysed. Raises ValueError on invalid ``params`` or input, or when
    [start, end) clamped to the recording is empty.
    """
    params.validate()
    if isinstance(samples, Analysis):
        return samples.clip_quality(start, end, params)
    x = np.asarray(samples)
    c0 = max(0, int(math.floor((start - QUALITY_CONTEXT_S) * sample_rate)))
    c1 = min(len(x), int(math.ceil((end + QUALITY_CONTEXT_S) * sample_rate)))
    local = Analysis(
        x[c0:c1], sample_rate, VadParams(aggressiveness=params.aggressiveness, frame_ms=params.frame_ms)
    )
    off = c0 / sample_rate
    return local.clip_quality(start - off, end - off, params)


# ---------------------------------------------------------------------------------------------
# helpers


def _db(power: np.ndarray) -> np.ndarray:
    return np.maximum(10.0 * np.log10(np.maximum(power, 1e-30)), DB_FLOOR)


def _db_scalar(power: float) -> float:
    return max(DB_FLOOR, 10.0 * math.log10(power)) if power > 0 else DB_FLOOR


def _ms_to_ticks(ms: int) -> int:
    return int(round(ms / 10))


def _moving_mean(x: np.ndarray, width: int) -> np.ndarray:
    if width <= 1 or len(x) == 0:
        return x
    c = np.concatenate([[0.0], np.cumsum(x, dtype=np.float64)])
    n = len(x)
    idx = np.arange(n)
    lo = np.maximum(idx - width // 2, 0)
    hi = np.minimum(idx - width // 2 + width, n)
    return (c[hi] - c[lo]) / (hi - lo)


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) index pairs of the True runs of a boolean array."""
    if len(mask) == 0:
        return []
    m = np.concatenate([[False], mask.astype(bool), [False]])
    d = np.flatnonzero(m[1:] != m[:-1])
    return list(zip(d[0::2].tolist(), d[1::2].tolist(), strict=True))


def _merge_close(regions: list[tuple[int, int]], max_gap: int) -> list[tuple[int, int]]:
    """Merge overlapping regions and those separated by fewer than ``max_gap`` units."""
    out: list[tuple[int, int]] = []
    for a, b in sorted(regions):
        if out and a - out[-1][1] < max_gap or out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def _pad(regions: list[tuple[int, int]], pad: int, n: int) -> list[tuple[int, int]]:
    """Widen sorted, disjoint regions by ``pad`` ticks; a pause shorter than two paddings is shared
    equally, so padding never merges two regions."""
    out = []
    for i, (a, b) in enumerate(regions):
        lo = regions[i - 1][1] + (a - regions[i - 1][1]) // 2 if i else 0
        hi = b + (regions[i + 1][0] - b + 1) // 2 if i + 1 < len(regions) else n
        out.append((max(lo, a - pad, 0), min(hi, b + pad, n)))
    return out


def _ring_buffer(flags: np.ndarray, size: int) -> list[tuple[int, int]]:
    """The py-webrtcvad example's smoothing, on frame indices: [(start, end_exclusive)]."""
    out = []
    ring: deque[bool] = deque(maxlen=size)
    voiced_in_ring = 0
    triggered = False
    start = 0
    limit = 0.9 * size
    for i, v in enumerate(flags.tolist()):
        if len(ring) == size:
            voiced_in_ring -= ring[0]
        ring.append(v)
        voiced_in_ring += v
        if not triggered:
            if voiced_in_ring > limit:
                triggered = True
                start = i - len(ring) + 1
                ring.clear()
                voiced_in_ring = 0
        elif len(ring) - voiced_in_ring > limit:
            out.append((start, i + 1))
            triggered = False
            ring.clear()
            voiced_in_ring = 0
    if triggered:
        out.append((start, len(flags)))
    return out


def _near(regions: np.ndarray, targets: np.ndarray, distance: int) -> np.ndarray:
    """For each [a, b) in ``regions``: is some target region within ``distance`` ticks of it?"""
    out = np.zeros(len(regions), dtype=bool)
    if not len(targets) or not len(regions):
        return out
    order = np.argsort(targets[:, 0], kind="stable")
    starts = targets[order, 0]
    ends = np.maximum.accumulate(targets[order, 1])
    a, b = regions[:, 0], regions[:, 1]
    j = np.searchsorted(starts, b + distance, side="right") - 1  # last target starting early enough
    valid = j >= 0
    out[valid] = ends[j[valid]] >= a[valid] - distance
    return out


def _extend_left(e: np.ndarray, a: int, low: np.ndarray, stop: int) -> int:
    """Move onset ``a`` back over ticks above ``low``, bridging dips shorter than EXTEND_DIP_TICKS."""
    if a <= stop:
        return a
    above = np.flatnonzero((e[stop:a] > low[stop:a])[::-1])  # distance-1 of ticks above, nearest first
    best, last = 0, -1
    for d in above.tolist():
        if d - last - 1 >= EXTEND_DIP_TICKS:
            break
        best, last = d + 1, d
    return a - best


def _extend_right(e: np.ndarray, b: int, low: np.ndarray, stop: int) -> int:
    """Move offset ``b`` forward over ticks above ``low``, bridging dips shorter than EXTEND_DIP_TICKS."""
    if b >= stop:
        return b
    above = np.flatnonzero(e[b:stop] > low[b:stop])
    best, last = 0, -1
    for d in above.tolist():
        if d - last - 1 >= EXTEND_DIP_TICKS:
            break
        best, last = d + 1, d
    return b + best


def _split_long(a: int, b: int, e100: np.ndarray, min_t: int, max_t: int) -> list[tuple[int, int]]:
    if b - a <= max_t:
        return [(a, b)]
    lo, hi = a + min_t, b - min_t  # split tick k: [a, k) and [k, b) both >= min_t
    seg = e100[lo : hi + 1]
    cand = np.flatnonzero(seg <= seg.min() + SPLIT_TIE_DB) + lo
    k = int(cand[np.argmin(np.abs(cand - (a + b) / 2))])
    return _split_long(a, k, e100, min_t, max_t) + _split_long(k, b, e100, min_t, max_t)
