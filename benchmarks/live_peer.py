"""The peer for ``live_latency.py``: WhisperLiveKit's LocalAgreement policy, same audio, same pace.

Runs in the peer's own virtual environment (never the app's), e.g.::

    python3 -m venv /work/peers/wlk-venv && /work/peers/wlk-venv/bin/pip install whisperlivekit
    /work/peers/wlk-venv/bin/python benchmarks/live_peer.py AUDIO.npy MODEL_DIR [--chunk 0.5]
        [--behind S]

It loads the same CTranslate2 model folder as the app (int8, ``--threads``, no hub), feeds the audio
at real-time pace in ``--chunk`` steps to ``OnlineASRProcessor`` (LocalAgreement-2 with
faster-whisper's Silero VAD filter per pass, segment trimming at 15 s: WhisperLiveKit's
defaults; after the replay ends it reads on until a pass confirms nothing new, then flushes)
and prints one JSON object: each confirmed word with the wall time it was confirmed
at (seconds since the replay began), the time of the first tentative text, and the CPU seconds
the process used. ``live_latency.py`` turns that into the same figures as for Verbatim.

``--behind S`` paces the peer by passes instead, as ``live_trace.py --behind S`` paces Verbatim:
each pass finds S seconds of new audio however long passes take, and a word's confirmation time
is the audio received by then, so the text is the same on any machine (``live_trace.py --peer``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np

SAMPLE_RATE = 16_000
MAX_PASSES_AFTER_END = 20


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("audio", help="16 kHz mono float32 samples saved with numpy.save")
    parser.add_argument("model_dir", help="the CTranslate2 Whisper folder the app uses")
    parser.add_argument("--chunk", type=float, default=0.5, help="seconds of audio per pass")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--confidence", action="store_true", help="confidence_validation")
    parser.add_argument("--behind", type=float, help="seconds of new audio per pass, no clock")
    args = parser.parse_args()

    from faster_whisper import WhisperModel
    from whisperlivekit.local_agreement.backends import FasterWhisperASR
    from whisperlivekit.local_agreement.online_asr import OnlineASRProcessor

    class Peer(FasterWhisperASR):  # type: ignore[misc]
        def load_model(self, model_size=None, cache_dir=None, model_dir=None):
            return WhisperModel(
                model_dir, device="cpu", compute_type="int8", cpu_threads=args.threads
            )

    asr = Peer("en", model_dir=args.model_dir)
    asr.use_vad()
    asr.confidence_validation = args.confidence
    asr.tokenizer = None
    asr.buffer_trimming = "segment"
    asr.buffer_trimming_sec = 15
    online = OnlineASRProcessor(asr)
    audio = np.load(args.audio).astype(np.float32)
    asr.transcribe(audio[:SAMPLE_RATE])  # warm-up, as the app's benchmark warms its model

    words: list[dict[str, object]] = []
    first_text = None
    step = int(args.chunk * SAMPLE_RATE)
    cpu_start = time.process_time()
    start = time.monotonic()
    fed = 0

    def clock() -> float:  # by passes: the audio received so far
        return fed / SAMPLE_RATE if args.behind else time.monotonic() - start

    while fed < audio.size:
        if args.behind:
            arrived = min(audio.size, fed + round(args.behind * SAMPLE_RATE))
        else:
            due = start + (fed + step) / SAMPLE_RATE
            now = time.monotonic()
            if now < due:
                time.sleep(due - now)
            arrived = min(audio.size, int((time.monotonic() - start) * SAMPLE_RATE))
        online.insert_audio_chunk(audio[fed:arrived])
        fed = arrived
        committed, _ = online.process_iter()
        emitted = clock()
        words += [
            {"start": t.start, "end": t.end, "text": t.text, "at": emitted} for t in committed
        ]
        if first_text is None and (committed or online.get_buffer().text):
            first_text = emitted
    # The replay ended; a pass that fell behind read at most 30 s of what had piled up. Read on
    # until a pass confirms nothing more, so the peer is judged on all of the audio.
    for _ in range(MAX_PASSES_AFTER_END):
        committed, _ = online.process_iter()
        emitted = clock()
        words += [
            {"start": t.start, "end": t.end, "text": t.text, "at": emitted} for t in committed
        ]
        if not committed:
            break
    rest, _ = online.finish()
    emitted = clock()
    words += [{"start": t.start, "end": t.end, "text": t.text, "at": emitted} for t in rest]
    json.dump(
        {"words": words, "first_text": first_text, "cpu_seconds": time.process_time() - cpu_start},
        sys.stdout,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
