"""The speech channel: what is said, as time-coded transcript segments.

`sources` (subtitle sidecars and streams), `asr` (faster-whisper), `channel` (the Channel: identity
and analyse), `store` (segments in Chroma), `fts` (the local word index rebuilt from the store),
`match` (ranked, misspelling-tolerant word/phrase matching), `reader` (store + word index for one
identity: search and transcripts), `transcript` (text / SRT / WebVTT output).
"""
