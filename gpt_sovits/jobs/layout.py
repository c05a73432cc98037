"""File names inside one job folder, shared by the runner and the wrapper."""

STATE_FILE = "state.json"  # the Job record
LOG_FILE = "log.txt"  # the stage's stdout and stderr
EVENTS_FILE = "events.jsonl"  # progress events (gpt_sovits.progress)
EXIT_CODE_FILE = "exit_code.json"  # written by the wrapper when the stage ends
