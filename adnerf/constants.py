"""Numbers every stage must agree on; defined here once so that they cannot drift apart."""

FPS = 25             # video frames per second: one audio-feature window per 40 ms, so every video is resampled to 25
AUDIO_RATE = 16000   # Hz: aud.wav and every audio-feature backend (DeepSpeech was trained at 16 kHz)
DEFAULT_TESTSKIP = 8  # the original's NeRF default: every 8th validation frame, when a config names no testskip
