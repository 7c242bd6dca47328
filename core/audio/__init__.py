"""Audio in, log-mel out: decode and check a clip, then follow it to the image a CNN eats.

Every step is written out in numpy so it can be read, and every array equals librosa's for
the same parameters (tests/test_audio.py checks stft, filters.mel, feature.melspectrogram,
power_to_db and feature.mfcc value for value). Only the iterative Griffin-Lim reconstruction
and the resampler are borrowed from librosa.

Stages, in the order the audio page shows them::

    bytes --load_clip--> Clip.samples                      # (n_samples,) float32 mono
          --frame_at / stft--> complex spectrum            # (1 + n_fft // 2, n_frames)
          --mel_filterbank @ |X|**power--> mel spectrum    # (n_mels, n_frames)
          --power_to_db--> log-mel                         # (n_mels, n_frames), the CNN's input
          --mfcc--> cepstral coefficients                  # (n_mfcc, n_frames)

Run a stage from a notebook::

    from core import audio
    clip = audio.load_clip(open("assets/audio/speech_en.ogg", "rb").read(), name="speech_en")
    params = audio.StftParams(n_fft=512, hop_length=160)
    log_mel = audio.power_to_db(audio.mel_spectrogram(clip.samples, sr=clip.sr, stft=params))
"""

from core.audio.clips import *  # noqa: F403
from core.audio.listen import *  # noqa: F403
from core.audio.spectral import *  # noqa: F403
from core.audio.views import *  # noqa: F403
