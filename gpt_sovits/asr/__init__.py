"""Transcripts: the `.list` format (listfile), faster-whisper ASR (whisper), checks (check), the label editor (editor).

Nothing here imports a UI; the stage CLIs are `cli` (asr) and `check_cli` (check-list).
"""
