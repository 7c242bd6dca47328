"""Synthesise the spoken-commands set (Italian voice commands labelled with their intent).

In the spirit of the ITALIC intent-classification dataset: short Italian commands such as
"accendi la luce" or "che ore sono", several phrasings per intent, each spoken by many
synthetic voices (Debian's espeak-ng, Italian voice with its voice variants) at different
speeds and pitches, then resampled to 16 kHz mono, trimmed, given a random level (gain) and a
little background noise, and stored as OGG Vorbis.

To keep the files few and small (a Vorbis header costs a few kB per file), the clips of one
intent are stored one after the other in ``assets/commands/<intent>.ogg`` with 0.25 s of
silence between them; ``assets/commands/index.csv`` says where each clip starts and how long
it is (in samples at 16 kHz), which sentence it says and how it was made.

Run from the repository root (needs ``apt-get install espeak-ng``)::

    python scripts/make_spoken_commands.py

The output is deterministic for a given espeak-ng version (1.51 was used) and seed.
"""

from __future__ import annotations

import argparse
import csv
import io
import subprocess
from pathlib import Path

import librosa
import numpy as np
import soundfile as sf

SR = 16_000
MAX_SECONDS = 1.9  # clips are padded to 2.0 s by core.data.shipped; leave a little room
GAP_SECONDS = 0.25
OUT = Path(__file__).resolve().parent.parent / "assets" / "commands"

# Intent names follow the MASSIVE / ITALIC convention (scenario_action).
INTENTS: dict[str, list[str]] = {
    "iot_hue_lighton": [
        "accendi la luce",
        "accendi le luci",
        "puoi accendere la luce",
        "luce accesa",
        "fai luce",
    ],
    "iot_hue_lightoff": [
        "spegni la luce",
        "spegni le luci",
        "puoi spegnere la luce",
        "luce spenta",
        "via la luce",
    ],
    "datetime_query": [
        "che ore sono",
        "che ora è",
        "dimmi l'ora",
        "mi dici l'ora",
        "sai che ore sono",
    ],
    "audio_volume_up": [
        "alza il volume",
        "aumenta il volume",
        "più forte",
        "volume più alto",
        "alza l'audio",
    ],
    "audio_volume_down": [
        "abbassa il volume",
        "diminuisci il volume",
        "più piano",
        "volume più basso",
        "abbassa l'audio",
    ],
    "weather_query": [
        "che tempo fa",
        "com'è il meteo",
        "pioverà domani",
        "previsioni del tempo",
        "fa freddo fuori",
    ],
    "alarm_set": [
        "svegliami alle sette",
        "imposta una sveglia",
        "metti la sveglia",
        "sveglia alle otto",
        "svegliami domani",
    ],
    "play_music": [
        "metti un po' di musica",
        "fai partire la musica",
        "suona una canzone",
        "riproduci la playlist",
        "voglio ascoltare musica",
    ],
}

# espeak-ng voice variants applied to the Italian voice: each changes formants, pitch range,
# breathiness or the synthesis method, which gives many distinct "speakers".
VARIANTS = [
    "m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8",
    "f1", "f2", "f3", "f4", "f5",
    "klatt", "klatt2", "klatt3", "klatt4", "croak", "whisper",
    "Andrea", "Marco", "Mario", "antonio", "sandro", "linda", "anika",
    "steph", "grandma", "grandpa", "david", "john", "max",
]  # fmt: skip


def speak(text: str, *, variant: str, speed: int, pitch: int) -> np.ndarray:
    """Render ``text`` with espeak-ng; return float32 mono at 16 kHz, silence trimmed."""
    wav = subprocess.run(
        ["espeak-ng", "-v", f"it+{variant}", "-s", str(speed), "-p", str(pitch), "--stdout", text],
        check=True,
        capture_output=True,
    ).stdout
    audio, sr = sf.read(io.BytesIO(wav), dtype="float32")
    audio = librosa.resample(audio, orig_sr=sr, target_sr=SR)
    audio, _ = librosa.effects.trim(audio, top_db=40)
    return audio.astype(np.float32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-sentence", type=int, default=24, help="renditions per sentence")
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--quality", type=float, default=0.3, help="Vorbis quality 0-1")
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    OUT.mkdir(parents=True, exist_ok=True)
    rows = []
    gap = np.zeros(int(GAP_SECONDS * SR), dtype=np.float32)
    for intent, sentences in INTENTS.items():
        pieces, cursor = [], 0
        for s_idx, text in enumerate(sentences):
            for r in range(args.per_sentence):
                variant = VARIANTS[(r * 7 + s_idx * 3 + len(intent)) % len(VARIANTS)]
                speed = int(rng.integers(140, 211))
                pitch = int(rng.integers(20, 81))
                audio = speak(text, variant=variant, speed=speed, pitch=pitch)
                while len(audio) > MAX_SECONDS * SR:  # too long for the 2 s window: speak faster
                    speed += 15
                    audio = speak(text, variant=variant, speed=speed, pitch=pitch)
                gain_db = float(rng.uniform(-18.0, -1.0))
                snr_db = float(rng.uniform(15.0, 35.0))
                audio = audio / max(float(np.abs(audio).max()), 1e-6) * 10 ** (gain_db / 20)
                signal_rms = float(np.sqrt(np.mean(audio**2)))
                noise = rng.standard_normal(len(audio)).astype(np.float32)
                audio = audio + noise * signal_rms * 10 ** (-snr_db / 20)
                pieces += [audio.astype(np.float32), gap]
                rows.append(
                    {
                        "file": f"{intent}.ogg",
                        "start": cursor,
                        "length": len(audio),
                        "intent": intent,
                        "text": text,
                        "voice": f"it+{variant}",
                        "speed_wpm": speed,
                        "pitch": pitch,
                        "gain_db": round(gain_db, 2),
                        "snr_db": round(snr_db, 2),
                    }
                )
                cursor += len(audio) + len(gap)
        track = np.clip(np.concatenate(pieces), -1.0, 1.0)
        # written in 1 s blocks: one large write of Vorbis can crash libsndfile
        with sf.SoundFile(
            OUT / f"{intent}.ogg",
            "w",
            SR,
            1,
            format="OGG",
            subtype="VORBIS",
            compression_level=1.0 - args.quality,
        ) as f:
            for i in range(0, len(track), SR):
                f.write(track[i : i + SR])
        print(f"{intent}: {len(sentences) * args.per_sentence} clips, {len(track) / SR:.0f} s")
    with open(OUT / "index.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    total = sum(p.stat().st_size for p in OUT.glob("*.ogg"))
    print(f"{len(rows)} clips, {total / 1e6:.2f} MB of OGG")


if __name__ == "__main__":
    main()
