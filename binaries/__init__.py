"""The console scripts: thin absl shells over library functions (the top layer)."""
